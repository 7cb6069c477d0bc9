import { loggingSchema, metricsSchema, tracingSchema } from './observability.schema';

describe('observability schemas', () => {
  it('fill their defaults', () => {
    expect(metricsSchema.parse({})).toEqual({ enabled: true, path: '/metrics' });
    expect(loggingSchema.parse({})).toEqual({ level: 'info', format: 'json' });
    expect(tracingSchema.parse({})).toMatchObject({
      enabled: false,
      service_name: 'mizuchi-uploadr',
      otlp: { endpoint: 'http://localhost:4318', protocol: 'http/protobuf', compression: 'none' },
      sampling: { strategy: 'parent_based', ratio: 1 },
      record_object_keys: false,
      fallback: 'none',
    });
  });

  it('defaults the OTLP endpoint to the gRPC port for grpc', () => {
    expect(tracingSchema.parse({ otlp: { protocol: 'grpc' } }).otlp.endpoint).toBe(
      'http://localhost:4317',
    );
  });

  it.each([
    [metricsSchema, { path: 'metrics' }],
    [metricsSchema, { port: 0 }],
    [tracingSchema, { sampling: { ratio: 1.5 } }],
    [tracingSchema, { sampling: { strategy: 'sometimes' } }],
    [tracingSchema, { batch: { max_queue_size: 10, max_export_batch_size: 20 } }],
    [tracingSchema, { otlp: { compression: 'brotli' } }],
    [loggingSchema, { level: 'trace' }],
    [loggingSchema, { format: 'xml' }],
  ])('refuses %#', (schema, input) => {
    expect(schema.safeParse(input).success).toBe(false);
  });

  it('accepts a ratio written as a string by env expansion', () => {
    expect(
      tracingSchema.parse({ sampling: { strategy: 'ratio', ratio: '0.25' } }).sampling.ratio,
    ).toBe(0.25);
  });
});
