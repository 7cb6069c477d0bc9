import {
  type Attributes,
  type Link,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  TraceFlags,
  trace,
} from '@opentelemetry/api';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
  type SpanLimits,
} from '@opentelemetry/sdk-trace-base';
import {
  OBJECT_KEY_ATTRIBUTE,
  filterAttributes,
  hashSubject,
  privateCopy,
  type PrivacyOptions,
} from './span-privacy';

const noKeys: PrivacyOptions = { recordObjectKeys: false };
const withKeys: PrivacyOptions = { recordObjectKeys: true };

const ALL_KINDS = [
  SpanKind.INTERNAL,
  SpanKind.SERVER,
  SpanKind.CLIENT,
  SpanKind.PRODUCER,
  SpanKind.CONSUMER,
];

/** Attributes that identify a person, a request's target or a secret: none may ever leave. */
const NEVER_EXPORTED: Attributes = {
  'url.full': 'https://gw.example/uploads/a.jpg?X-Amz-Signature=deadbeef',
  'http.url': 'https://gw.example/uploads/a.jpg?X-Amz-Signature=deadbeef',
  'http.target': '/uploads/a.jpg?X-Amz-Signature=deadbeef',
  'url.path': '/uploads/a.jpg',
  'url.query': 'X-Amz-Signature=deadbeef',
  'http.user_agent': 'aws-cli/2.15 alice-laptop',
  'user_agent.original': 'aws-cli/2.15 alice-laptop',
  'net.peer.ip': '203.0.113.7',
  'client.address': '203.0.113.7',
  'http.client_ip': '203.0.113.7',
  'http.request.header.authorization': ['Bearer eyJhbGciOi.secret'],
  'http.request.header.x-amz-security-token': ['token'],
  'http.response.header.set-cookie': ['session=abc'],
  'enduser.id': 'alice',
  'some.random.key': 'value',
  custom: 1,
};

/** Allowed on every kind of span. */
const ALWAYS_EXPORTED: Attributes = {
  'http.request.method': 'PUT',
  'http.method': 'PUT',
  'http.response.status_code': 200,
  'http.status_code': 200,
  'http.route': '/uploads/*',
  'url.scheme': 'https',
  'error.type': 'SlowDown',
  'mizuchi.route': 'uploads',
  'mizuchi.operation': 'PutObject',
  'mizuchi.upload.bytes': 1048576,
  'mizuchi.authz.cached': true,
  'mizuchi.subject.hash': '0123456789abcdef',
};

/** Names a backend or policy engine: allowed on client spans, where the peer is not a person. */
const CLIENT_PEER: Attributes = {
  'server.address': 's3.internal',
  'net.peer.name': 's3.internal',
  'net.peer.port': 7480,
};

/** A tracer whose finished spans can be read back. */
function recorder(spanLimits?: SpanLimits) {
  const memory = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    spanProcessors: [new SimpleSpanProcessor(memory)],
    ...(spanLimits !== undefined ? { spanLimits } : {}),
  });
  const tracer = provider.getTracer('span-privacy-spec');
  const finished = (): ReadableSpan[] => memory.getFinishedSpans();
  return { tracer, finished };
}

/** One finished span with these attributes. */
function finishedSpan(kind: SpanKind, attributes: Attributes, links: Link[] = []): ReadableSpan {
  const { tracer, finished } = recorder();
  tracer.startSpan('PUT uploads', { kind, attributes, links }).end();
  return finished()[0];
}

describe('filterAttributes', () => {
  it.each(ALL_KINDS)('keeps HTTP semantics and mizuchi.* attributes on kind %s', (kind) => {
    expect(filterAttributes(ALWAYS_EXPORTED, kind, noKeys)).toEqual(ALWAYS_EXPORTED);
  });

  it.each(ALL_KINDS)(
    'drops URLs, agents, addresses, headers and unknown keys on kind %s',
    (kind) => {
      expect(filterAttributes(NEVER_EXPORTED, kind, noKeys)).toEqual({});
      expect(filterAttributes(NEVER_EXPORTED, kind, withKeys)).toEqual({});
    },
  );

  it.each(Object.keys(NEVER_EXPORTED))('drops %s even beside allowed attributes', (key) => {
    const out = filterAttributes(
      { ...ALWAYS_EXPORTED, [key]: NEVER_EXPORTED[key] },
      SpanKind.SERVER,
      noKeys,
    );

    expect(out).not.toHaveProperty([key]);
    expect(out).toEqual(ALWAYS_EXPORTED);
  });

  it('keeps the backend peer on a CLIENT span', () => {
    expect(filterAttributes(CLIENT_PEER, SpanKind.CLIENT, noKeys)).toEqual(CLIENT_PEER);
    expect(filterAttributes({ 'server.port': 443 }, SpanKind.CLIENT, noKeys)).toEqual({
      'server.port': 443,
    });
  });

  it.each([SpanKind.SERVER, SpanKind.INTERNAL, SpanKind.PRODUCER, SpanKind.CONSUMER])(
    'drops server.address and net.peer.name on kind %s',
    (kind) => {
      const out = filterAttributes(CLIENT_PEER, kind, noKeys);

      expect(out).not.toHaveProperty(['server.address']);
      expect(out).not.toHaveProperty(['net.peer.name']);
      expect(out).toEqual({});
    },
  );

  it('keeps the gateway listening port on a SERVER span only', () => {
    expect(
      filterAttributes({ 'server.port': 8080, 'net.host.port': 8080 }, SpanKind.SERVER, noKeys),
    ).toEqual({ 'server.port': 8080, 'net.host.port': 8080 });
    expect(
      filterAttributes({ 'server.port': 8080, 'net.host.port': 8080 }, SpanKind.INTERNAL, noKeys),
    ).toEqual({});
  });

  it.each(ALL_KINDS)('drops the object key by default on kind %s', (kind) => {
    expect(
      filterAttributes({ [OBJECT_KEY_ATTRIBUTE]: 'alice/tax-2024.pdf' }, kind, noKeys),
    ).toEqual({});
  });

  it.each(ALL_KINDS)('keeps the object key on kind %s when keys may be recorded', (kind) => {
    expect(
      filterAttributes({ [OBJECT_KEY_ATTRIBUTE]: 'alice/tax-2024.pdf' }, kind, withKeys),
    ).toEqual({ [OBJECT_KEY_ATTRIBUTE]: 'alice/tax-2024.pdf' });
  });

  it('names the object-key attribute mizuchi.object.key', () => {
    expect(OBJECT_KEY_ATTRIBUTE).toBe('mizuchi.object.key');
  });

  it('keeps values unchanged, arrays included, and leaves its input alone', () => {
    const input: Attributes = {
      'mizuchi.upload.parts': [1, 2, 3],
      'http.response.status_code': 503,
      'url.full': 'https://x/y',
    };
    const snapshot = structuredClone(input);

    const out = filterAttributes(input, SpanKind.SERVER, noKeys);

    expect(out).toEqual({ 'mizuchi.upload.parts': [1, 2, 3], 'http.response.status_code': 503 });
    expect(out).not.toBe(input);
    expect(input).toEqual(snapshot);
  });

  it('does not treat a key that merely contains mizuchi as a gateway attribute', () => {
    expect(
      filterAttributes({ 'x.mizuchi.route': 'a', mizuchi: 'b' }, SpanKind.SERVER, noKeys),
    ).toEqual({});
  });
});

describe('privateCopy', () => {
  it('filters the attributes of a real span and counts what it removed as dropped', () => {
    const original = finishedSpan(SpanKind.SERVER, { ...ALWAYS_EXPORTED, ...NEVER_EXPORTED });

    const copy = privateCopy(original, noKeys);

    expect(copy.attributes).toEqual(ALWAYS_EXPORTED);
    expect(copy.droppedAttributesCount).toBe(Object.keys(NEVER_EXPORTED).length);
  });

  it('adds the removed attributes to those the SDK had already dropped', () => {
    const { tracer, finished } = recorder({ attributeCountLimit: 3 });
    const span = tracer.startSpan('PUT uploads', { kind: SpanKind.SERVER });
    span.setAttribute('mizuchi.route', 'uploads');
    span.setAttribute('url.full', 'https://x/y');
    span.setAttribute('client.address', '203.0.113.7');
    span.setAttribute('http.route', '/uploads/*');
    span.setAttribute('url.query', 'sig=1');
    span.end();
    const original = finished()[0];
    expect(original.droppedAttributesCount).toBe(2);

    const copy = privateCopy(original, noKeys);

    expect(copy.attributes).toEqual({ 'mizuchi.route': 'uploads' });
    expect(copy.droppedAttributesCount).toBe(4);
  });

  it('keeps the object key only when keys may be recorded', () => {
    const original = finishedSpan(SpanKind.SERVER, {
      'mizuchi.route': 'uploads',
      [OBJECT_KEY_ATTRIBUTE]: 'alice/tax-2024.pdf',
    });

    expect(privateCopy(original, noKeys).attributes).toEqual({ 'mizuchi.route': 'uploads' });
    expect(privateCopy(original, noKeys).droppedAttributesCount).toBe(1);
    expect(privateCopy(original, withKeys).attributes).toEqual({
      'mizuchi.route': 'uploads',
      [OBJECT_KEY_ATTRIBUTE]: 'alice/tax-2024.pdf',
    });
    expect(privateCopy(original, withKeys).droppedAttributesCount).toBe(0);
  });

  it('applies the CLIENT peer rule according to the kind of the span', () => {
    const client = privateCopy(finishedSpan(SpanKind.CLIENT, CLIENT_PEER), noKeys);
    const server = privateCopy(finishedSpan(SpanKind.SERVER, CLIENT_PEER), noKeys);

    expect(client.attributes).toEqual(CLIENT_PEER);
    expect(server.attributes).toEqual({});
    expect(server.droppedAttributesCount).toBe(3);
  });

  it('preserves the span context, parent, identity and timing', () => {
    const { tracer, finished } = recorder();
    const parent = tracer.startSpan('parent');
    const parentContext = parent.spanContext();
    const ctx = trace.setSpan(ROOT_CONTEXT, parent);
    const child = tracer.startSpan(
      'PUT uploads',
      { kind: SpanKind.CLIENT, startTime: [1_700_000_000, 5] },
      ctx,
    );
    child.setStatus({ code: SpanStatusCode.ERROR, message: 'SlowDown' });
    child.end([1_700_000_002, 500]);
    parent.end();
    const original = finished().find((s) => s.name === 'PUT uploads');
    if (original === undefined) throw new Error('child span not recorded');

    const copy = privateCopy(original, noKeys);

    expect(copy.spanContext()).toEqual(original.spanContext());
    expect(copy.spanContext().traceId).toBe(parentContext.traceId);
    expect(copy.spanContext().traceFlags & TraceFlags.SAMPLED).toBe(TraceFlags.SAMPLED);
    expect(copy.parentSpanContext?.spanId).toBe(parentContext.spanId);
    expect(copy.name).toBe('PUT uploads');
    expect(copy.kind).toBe(SpanKind.CLIENT);
    expect(copy.status).toEqual({ code: SpanStatusCode.ERROR, message: 'SlowDown' });
    expect(copy.startTime).toEqual([1_700_000_000, 5]);
    expect(copy.endTime).toEqual([1_700_000_002, 500]);
    expect(copy.duration).toEqual(original.duration);
    expect(copy.ended).toBe(true);
    expect(copy.resource).toBe(original.resource);
    expect(copy.instrumentationScope).toEqual({
      name: 'span-privacy-spec',
      version: undefined,
      schemaUrl: undefined,
    });
  });

  it('drops every link and counts them as dropped links', () => {
    const linked = {
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      spanId: '00f067aa0ba902b7',
      traceFlags: TraceFlags.SAMPLED,
    };
    const original = finishedSpan(SpanKind.SERVER, {}, [
      { context: linked, attributes: { 'url.full': 'https://x/y' } },
      { context: { ...linked, spanId: '00f067aa0ba902b8' } },
    ]);
    expect(original.links).toHaveLength(2);

    const copy = privateCopy(original, noKeys);

    expect(copy.links).toEqual([]);
    expect(copy.droppedLinksCount).toBe(original.droppedLinksCount + 2);
  });

  it('keeps exception details on events and drops other event attributes', () => {
    const { tracer, finished } = recorder();
    const span = tracer.startSpan('PUT uploads', { kind: SpanKind.SERVER });
    span.recordException(new TypeError('socket hang up'));
    span.addEvent(
      'retry',
      {
        'url.full': 'https://gw.example/uploads/a.jpg?X-Amz-Signature=deadbeef',
        'client.address': '203.0.113.7',
        'mizuchi.upload.part_number': 3,
        [OBJECT_KEY_ATTRIBUTE]: 'alice/tax-2024.pdf',
      },
      [1_700_000_001, 0],
    );
    span.end();
    const original = finished()[0];

    const copy = privateCopy(original, noKeys);

    expect(copy.events).toHaveLength(2);
    const [exception, retry] = copy.events;
    expect(exception.name).toBe('exception');
    expect(exception.time).toEqual(original.events[0].time);
    expect(exception.attributes).toEqual({
      'exception.type': 'TypeError',
      'exception.message': 'socket hang up',
      'exception.stacktrace': expect.stringContaining('TypeError: socket hang up') as string,
    });
    expect(retry.name).toBe('retry');
    expect(retry.time).toEqual([1_700_000_001, 0]);
    expect(retry.attributes).toEqual({ 'mizuchi.upload.part_number': 3 });
  });

  it('keeps the object key on events only when keys may be recorded', () => {
    const { tracer, finished } = recorder();
    const span = tracer.startSpan('PUT uploads');
    span.addEvent('stored', { [OBJECT_KEY_ATTRIBUTE]: 'alice/tax-2024.pdf' });
    span.end();
    const original = finished()[0];

    expect(privateCopy(original, noKeys).events[0].attributes).toEqual({});
    expect(privateCopy(original, withKeys).events[0].attributes).toEqual({
      [OBJECT_KEY_ATTRIBUTE]: 'alice/tax-2024.pdf',
    });
  });

  it('copies an event without attributes as an event with none', () => {
    const { tracer, finished } = recorder();
    const span = tracer.startSpan('PUT uploads');
    span.addEvent('first-byte');
    span.end();

    const copy = privateCopy(finished()[0], noKeys);

    expect(copy.events).toEqual([expect.objectContaining({ name: 'first-byte', attributes: {} })]);
  });

  it('counts event attributes it removes as dropped, as it does for span attributes', () => {
    const { tracer, finished } = recorder();
    const span = tracer.startSpan('PUT uploads');
    span.addEvent('retry', { 'url.full': 'https://x/y', 'client.address': '203.0.113.7' });
    span.end();

    const copy = privateCopy(finished()[0], noKeys);

    expect(copy.events[0].attributes).toEqual({});
    // span-privacy.ts filterEvent resets droppedAttributesCount to 0, so the exported event
    // claims nothing was dropped although two attributes were removed.
    expect(copy.events[0].droppedAttributesCount).toBe(2);
  });

  it('returns a detached copy and leaves the original span untouched', () => {
    const original = finishedSpan(SpanKind.SERVER, { ...ALWAYS_EXPORTED, ...NEVER_EXPORTED });
    const before = { ...original.attributes };

    const copy = privateCopy(original, noKeys);

    expect(copy).not.toBe(original);
    expect(copy.attributes).not.toBe(original.attributes);
    expect(original.attributes).toEqual(before);
    expect(original.attributes['url.full']).toBe(NEVER_EXPORTED['url.full']);
  });

  it('puts no forbidden value anywhere in the copy', () => {
    const original = finishedSpan(SpanKind.CLIENT, { ...ALWAYS_EXPORTED, ...NEVER_EXPORTED });

    const copy = privateCopy(original, noKeys);
    const serialized = JSON.stringify({
      attributes: copy.attributes,
      events: copy.events,
      links: copy.links,
      name: copy.name,
    });

    expect(serialized).not.toContain('X-Amz-Signature');
    expect(serialized).not.toContain('203.0.113.7');
    expect(serialized).not.toContain('Bearer');
    expect(serialized).not.toContain('alice');
  });
});

describe('hashSubject', () => {
  it('is the first 16 lowercase hex digits of the SHA-256 of the subject', () => {
    // sha256('alice') = 2bd806c97f0e00af1a1fc3328fa763a9269723c8db8fac4f93af71db186d6e90
    expect(hashSubject('alice')).toBe('2bd806c97f0e00af');
  });

  it.each(['alice', 'user-42@example.com', 'AKIAIOSFODNN7EXAMPLE', '', 'ユーザー'])(
    'gives 16 lowercase hex characters for %p',
    (subject) => {
      expect(hashSubject(subject)).toMatch(/^[0-9a-f]{16}$/);
    },
  );

  it('is stable for one subject', () => {
    expect(hashSubject('user-42@example.com')).toBe(hashSubject('user-42@example.com'));
  });

  it('differs between subjects, even ones that differ only in case', () => {
    const hashes = ['alice', 'Alice', 'bob', 'alice ', 'user-42@example.com'].map(hashSubject);

    expect(new Set(hashes).size).toBe(hashes.length);
  });

  it('does not contain the subject', () => {
    for (const subject of ['user-42@example.com', 'AKIAIOSFODNN7EXAMPLE', 'abc123']) {
      expect(hashSubject(subject)).not.toContain(subject);
      expect(hashSubject(subject)).not.toContain(subject.toLowerCase());
    }
  });
});
