import { RestartPolicy } from './restart-policy';

describe('RestartPolicy', () => {
  const options = { initialDelayMs: 100, maxDelayMs: 1000, windowMs: 60_000, maxCrashes: 5 };

  it('restarts after a delay that doubles with each recent crash, up to the maximum', () => {
    const policy = new RestartPolicy({ ...options, maxCrashes: 10 });
    const delays = [0, 1, 2, 3, 4, 5].map((i) => policy.onCrash(1, 1000 + i));
    expect(delays.map((d) => (d.restart ? d.delayMs : undefined))).toEqual([
      100, 200, 400, 800, 1000, 1000,
    ]);
  });

  it('stops restarting a worker that crashed more than maxCrashes times within the window', () => {
    const policy = new RestartPolicy(options);
    for (let i = 1; i <= 5; i++) expect(policy.onCrash(1, i).restart).toBe(true);
    expect(policy.onCrash(1, 6)).toEqual({ restart: false, crashes: 6 });
  });

  it('forgets crashes older than the window', () => {
    const policy = new RestartPolicy(options);
    for (let i = 1; i <= 5; i++) policy.onCrash(1, i);
    expect(policy.onCrash(1, 70_000)).toEqual({ restart: true, delayMs: 100, crashes: 1 });
  });

  it('counts each worker on its own', () => {
    const policy = new RestartPolicy(options);
    for (let i = 1; i <= 5; i++) policy.onCrash(1, i);
    expect(policy.onCrash(2, 6)).toEqual({ restart: true, delayMs: 100, crashes: 1 });
  });
});
