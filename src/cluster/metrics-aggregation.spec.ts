import { AggregatorRegistry, register } from 'prom-client';
import { metrics } from '../observability/metrics';

/** What one worker would answer the primary after `record` ran in it. */
async function workerSnapshot(record: () => void) {
  register.resetMetrics();
  record();
  return register.getMetricsAsJSON();
}

describe("the primary's aggregate of the workers' metrics", () => {
  afterAll(() => register.resetMetrics());

  it('sums counters, histograms and in-flight gauges, and shows an open breaker as 1', async () => {
    const m = metrics();
    const put = { bucket: 'b', operation: 'PutObject' };
    const first = await workerSnapshot(() => {
      m.uploads.inc({ ...put, status: '200' }, 3);
      m.duration.observe(put, 0.2);
      m.inFlight.set(2);
      m.tracingBreakerOpen.set(1);
    });
    const second = await workerSnapshot(() => {
      m.uploads.inc({ ...put, status: '200' }, 4);
      m.duration.observe(put, 2);
      m.inFlight.set(1);
      m.tracingBreakerOpen.set(0);
    });

    const text = await AggregatorRegistry.aggregate([first, second]).metrics();

    expect(text).toContain(
      'mizuchi_uploads_total{bucket="b",operation="PutObject",status="200"} 7',
    );
    expect(text).toContain(
      'mizuchi_upload_duration_seconds_count{bucket="b",operation="PutObject"} 2',
    );
    expect(text).toContain('mizuchi_uploads_in_flight 3');
    expect(text).toContain('mizuchi_tracing_breaker_open 1');
  });
});
