import { spawnSync } from 'node:child_process';
import { flagsToSet, GATEWAY_V8_FLAGS, tuneHeap } from './heap-tuning';

describe('heap tuning', () => {
  it('turns allocation-site pretenuring off by default', () => {
    expect(flagsToSet([])).toEqual(['--no-allocation-site-pretenuring']);
    expect(flagsToSet(['--enable-source-maps', '--max-old-space-size=512'])).toEqual([
      '--no-allocation-site-pretenuring',
    ]);
  });

  it.each([
    '--allocation-site-pretenuring',
    '--no-allocation-site-pretenuring',
    '--noallocation-site-pretenuring',
    '--allocation_site_pretenuring',
    '--no-allocation_site_pretenuring',
  ])("leaves the flag to node's command line when it names it (%s)", (arg) => {
    expect(flagsToSet(['--inspect', arg])).toEqual([]);
  });

  it('sets exactly the flags it returns', () => {
    const set: string[] = [];
    expect(tuneHeap([], (flag) => set.push(flag))).toEqual([...GATEWAY_V8_FLAGS]);
    expect(set).toEqual([...GATEWAY_V8_FLAGS]);
    set.length = 0;
    expect(tuneHeap(['--allocation-site-pretenuring'], (flag) => set.push(flag))).toEqual([]);
    expect(set).toEqual([]);
  });

  it('names flags that this V8 knows', () => {
    // An unknown flag would be ignored without a word: ask node's own V8 for its list.
    const options = spawnSync(process.execPath, ['--v8-options'], { encoding: 'utf8' }).stdout;
    for (const flag of GATEWAY_V8_FLAGS) {
      const name = flag.replace(/^--no-/, '').replace(/^--/, '');
      expect(options).toContain(`--${name}`);
    }
  });
});
