import type { Attributes } from '@opentelemetry/api';
import { AlwaysOnSampler } from '@opentelemetry/sdk-trace-base';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  ATTRIBUTE_COUNT_LIMIT,
  AttributeTemplate,
  RecentTemplates,
  templated,
  templateOf,
} from './attribute-template';
import { LeanSpan, LeanTracerProvider } from './lean-tracer';

describe('templated', () => {
  const plain: Attributes = { 'http.request.method': 'PUT', 'server.port': 8080 };

  it('looks like the attributes it was made from, frozen', () => {
    const attributes = templated(plain);

    expect(attributes).not.toBe(plain);
    expect(attributes).toEqual(plain);
    expect(Object.keys(attributes)).toEqual(Object.keys(plain));
    expect(Object.isFrozen(attributes)).toBe(true);
    expect(Object.getOwnPropertySymbols(attributes)).toHaveLength(1);
    expect({ ...attributes }).toEqual(plain);
  });

  it('carries a template of the valid attributes, which plain objects have not', () => {
    const template = templateOf(
      templated({
        a: 'x',
        '': 'empty key',
        b: undefined,
        c: [1, 2],
        d: [1, 'mixed'] as unknown as number[],
        e: true,
      }),
    );

    expect(template).toBeInstanceOf(AttributeTemplate);
    expect(template?.keys).toEqual(['a', 'c', 'e']);
    expect(template?.values).toEqual(['x', [1, 2], true]);
    expect(templateOf(plain)).toBeUndefined();
  });

  it('keeps at most the span attribute limit', () => {
    const many: Attributes = {};
    for (let i = 0; i < ATTRIBUTE_COUNT_LIMIT + 3; i++) many[`k${i}`] = i;
    expect(templateOf(templated(many))?.keys).toHaveLength(ATTRIBUTE_COUNT_LIMIT);
  });
});

describe('RecentTemplates', () => {
  const keys = ['k.a', 'k.b', 'k.c', 'k.d'] as const;

  it('returns the same templated object for the same values, another for other values', () => {
    const recent = new RecentTemplates([...keys]);
    const first = recent.of('PUT', 'http', '1.1', 8080);

    expect(recent.of('PUT', 'http', '1.1', 8080)).toBe(first);
    expect(first).toEqual({ 'k.a': 'PUT', 'k.b': 'http', 'k.c': '1.1', 'k.d': 8080 });
    expect(templateOf(first)).toBeDefined();
    const other = recent.of('POST', 'http', '1.1', 8080);
    expect(other).not.toBe(first);
    expect(other['k.a']).toBe('POST');
    expect(recent.of('PUT', 'http', '1.1', 8081)).not.toBe(first);
    expect(recent.of('PUT', 'http', '1.1', 8080)).toBe(first);
  });

  it('takes fewer keys, one value each', () => {
    const recent = new RecentTemplates(['route', 'operation']);
    const attributes = recent.of('uploads', 'PutObject');

    expect(attributes).toEqual({ route: 'uploads', operation: 'PutObject' });
    expect(Object.keys(attributes)).toEqual(['route', 'operation']);
    expect(recent.of('uploads', 'PutObject')).toBe(attributes);
    expect(recent.of('uploads', 'UploadPart')).not.toBe(attributes);
  });

  it('leaves out an undefined value, as a span does', () => {
    const attributes = new RecentTemplates([...keys]).of('PUT', 'http', '1.1', undefined);
    expect(templateOf(attributes)?.keys).toEqual(['k.a', 'k.b', 'k.c']);
  });

  it('forgets the oldest combination once it holds its size', () => {
    const recent = new RecentTemplates([...keys], 3);
    const first = recent.of(1, 'x', 'y', 'z');
    recent.of(2, 'x', 'y', 'z');
    recent.of(3, 'x', 'y', 'z');
    expect(recent.of(1, 'x', 'y', 'z')).toBe(first);

    recent.of(4, 'x', 'y', 'z');
    const again = recent.of(1, 'x', 'y', 'z');
    expect(again).not.toBe(first);
    expect(again).toEqual(first);
  });
});

describe('a lean span with templated start attributes', () => {
  function span(attributes: Attributes): LeanSpan {
    const provider = new LeanTracerProvider({
      resource: resourceFromAttributes({}),
      sampler: new AlwaysOnSampler(),
      processor: {
        onEnd: () => undefined,
        forceFlush: () => Promise.resolve(),
        shutdown: () => Promise.resolve(),
      },
    });
    return provider.getTracer('attribute-template-spec').startSpan('s', { attributes }) as LeanSpan;
  }

  it('keeps the template by reference and reads its attributes first', () => {
    const shared = templated({ a: 1, b: 2 });
    const one = span(shared);
    one.setAttribute('c', 3);

    expect(one.template).toBe(templateOf(shared));
    expect(one.attributeKeys).toEqual(['c']);
    expect(Object.entries(one.attributes)).toEqual([
      ['a', 1],
      ['b', 2],
      ['c', 3],
    ]);
  });

  it('takes its own copy when a template attribute is set, leaving the template as it was', () => {
    const shared = templated({ a: 1, b: 2 });
    const changed = span(shared);
    const other = span(shared);
    changed.setAttribute('b', 20);

    expect(changed.template).toBeUndefined();
    expect(changed.attributes).toEqual({ a: 1, b: 20 });
    expect(other.attributes).toEqual({ a: 1, b: 2 });
    expect(templateOf(shared)?.values).toEqual([1, 2]);
  });

  it('keeps a template given to setAttributes while it has no attributes of its own', () => {
    const shared = templated({ route: 'uploads', operation: 'PutObject' });
    const bare = span({});
    bare.setAttributes(shared);
    bare.setAttribute('bytes', 4);

    expect(bare.template).toBe(templateOf(shared));
    expect(bare.attributeKeys).toEqual(['bytes']);
    expect(bare.attributes).toEqual({ route: 'uploads', operation: 'PutObject', bytes: 4 });
  });

  it('sets a template one attribute at a time on a span that has attributes already', () => {
    const shared = templated({ route: 'uploads', operation: 'PutObject' });
    const own = span({ bytes: 4 });
    own.setAttributes(shared);
    const started = span(templated({ method: 'PUT' }));
    started.setAttributes(shared);

    expect(own.template).toBeUndefined();
    expect(own.attributes).toEqual({ bytes: 4, route: 'uploads', operation: 'PutObject' });
    expect(started.template?.keys).toEqual(['method']);
    expect(started.attributes).toEqual({ method: 'PUT', route: 'uploads', operation: 'PutObject' });
  });

  it('takes no template once ended', () => {
    const ended = span({});
    ended.end();
    ended.setAttributes(templated({ route: 'uploads' }));

    expect(ended.template).toBeUndefined();
    expect(ended.attributes).toEqual({});
  });

  it('counts the template against the attribute limit', () => {
    const start: Attributes = {};
    for (let i = 0; i < ATTRIBUTE_COUNT_LIMIT - 1; i++) start[`t${i}`] = i;
    const full = span(templated(start));
    full.setAttribute('own', 1);
    full.setAttribute('over', 2);

    expect(Object.keys(full.attributes)).toHaveLength(ATTRIBUTE_COUNT_LIMIT);
    expect(full.attributes).not.toHaveProperty(['over']);
    expect(full.droppedAttributesCount).toBe(1);
  });
});
