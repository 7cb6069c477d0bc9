import type { AppConfig } from '../config/config.schema';
import { UploadSlots } from './upload-slots';

function slotsFor(max: number | undefined): UploadSlots {
  return new UploadSlots({ server: { limits: { max_concurrent_uploads: max } } } as AppConfig);
}

describe('UploadSlots', () => {
  it('hands out at most max_concurrent_uploads slots at once', () => {
    const slots = slotsFor(2);
    const first = slots.tryAcquire();
    const second = slots.tryAcquire();
    expect(first).toBeDefined();
    expect(second).toBeDefined();
    expect(slots.tryAcquire()).toBeUndefined();
    expect(slots.inUse).toBe(2);
  });

  it('takes a slot back once, however often its release is called', () => {
    const slots = slotsFor(2);
    const release = slots.tryAcquire()!;
    slots.tryAcquire();
    release();
    release();
    expect(slots.inUse).toBe(1);
    expect(slots.tryAcquire()).toBeDefined();
    expect(slots.tryAcquire()).toBeUndefined();
  });

  it('never refuses when no limit is configured', () => {
    const slots = slotsFor(undefined);
    for (let i = 0; i < 10_000; i++) expect(slots.tryAcquire()).toBeDefined();
    expect(slots.inUse).toBe(10_000);
  });
});
