import { formatSize, GiB, KiB, MiB, parseSize, size } from './scalars';

describe('parseSize', () => {
  it.each([
    ['50MiB', 50 * MiB],
    ['16 MiB', 16 * MiB],
    ['1GB', 1_000_000_000],
    ['512KiB', 512 * KiB],
    ['100', 100],
    ['1.5GiB', 1.5 * GiB],
    ['2kb', 2000],
    ['7B', 7],
    [4096, 4096],
  ])('reads %p as %p bytes', (input, bytes) => {
    expect(parseSize(input)).toBe(bytes);
  });

  it.each(['lots', '5 MiBs', '-1', '1.5', '', '5M'])('refuses %p', (input) => {
    expect(() => parseSize(input)).toThrow();
  });

  it('refuses negative and fractional byte counts', () => {
    expect(() => parseSize(-1)).toThrow();
    expect(() => parseSize(1.5)).toThrow();
  });
});

describe('size schema', () => {
  it('enforces bounds and names them in human units', () => {
    const schema = size({ min: 5 * MiB, max: 5 * GiB });
    expect(schema.parse('16MiB')).toBe(16 * MiB);
    expect(schema.safeParse('1MiB').error?.issues[0].message).toBe('must be at least 5 MiB');
    expect(schema.safeParse('6GiB').error?.issues[0].message).toBe('must be at most 5 GiB');
  });

  it('formats sizes the way they are written', () => {
    expect(formatSize(16 * MiB)).toBe('16 MiB');
    expect(formatSize(1000)).toBe('1000 bytes');
  });
});
