/**
 * Attributes that many spans share: a server span's method, scheme, protocol version and port, a
 * backend client span's method and target (given at their start), an upload span's route and
 * operation (given to `setAttributes` before any other). They repeat from request to request, so
 * the gateway makes them once as a frozen attributes object that carries an AttributeTemplate:
 * the lean tracer keeps the template by reference instead of copying and checking each
 * attribute per span, and the encoder writes its encoded attributes with one copy
 * (otlp-protobuf.ts). To every other reader (the SDK's tracer, a sampler) it is an ordinary
 * attributes object: the template hides under a symbol, which `for…in` and `Object.keys` skip.
 */
import type { Attributes, AttributeValue, SpanKind } from '@opentelemetry/api';

/** Attributes no span may carry more of (as the SDK's default limit). */
export const ATTRIBUTE_COUNT_LIMIT = 128;

/** The property under which a templated attributes object carries its template. */
const TEMPLATE = Symbol('mizuchi.attribute-template');

function isPrimitive(value: unknown): boolean {
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean';
}

/** A valid attribute value: a primitive, or an array of one primitive type (nulls allowed). */
export function isAttributeValue(value: unknown): value is AttributeValue {
  if (value === null || value === undefined) return false;
  if (!Array.isArray(value)) return isPrimitive(value);
  let type: string | undefined;
  for (const item of value as unknown[]) {
    if (item === null || item === undefined) continue;
    if (!isPrimitive(item)) return false;
    type ??= typeof item;
    if (typeof item !== type) return false;
  }
  return true;
}

/** What an encoder remembers of a template: for which encoder and span kind, and the bytes. */
export interface EncodedTemplate {
  readonly owner: object;
  readonly kind: SpanKind;
  readonly bytes: Uint8Array;
  /** How many of the template's attributes the encoder's privacy filter left out. */
  readonly removed: number;
}

/** The valid attributes of a templated attributes object, in order, checked once. */
export class AttributeTemplate {
  readonly keys: string[] = [];
  readonly values: AttributeValue[] = [];
  /** The last encoding of these attributes (one encoder and one span kind in a gateway). */
  encoded: EncodedTemplate | undefined = undefined;

  constructor(attributes: Attributes) {
    for (const key in attributes) {
      const value = attributes[key];
      if (key.length > 0 && isAttributeValue(value) && this.keys.length < ATTRIBUTE_COUNT_LIMIT) {
        this.keys.push(key);
        this.values.push(value);
      }
    }
  }
}

/** A frozen copy of `attributes` carrying their template. */
export function templated(attributes: Attributes): Attributes {
  const copy: Attributes = { ...attributes };
  Object.defineProperty(copy, TEMPLATE, {
    value: new AttributeTemplate(attributes),
  });
  return Object.freeze(copy);
}

/** The template an attributes object carries, if it is one that `templated` made. */
export function templateOf(attributes: Attributes): AttributeTemplate | undefined {
  return (attributes as { [TEMPLATE]?: AttributeTemplate })[TEMPLATE];
}

interface Recent {
  readonly a: AttributeValue | undefined;
  readonly b: AttributeValue | undefined;
  readonly c: AttributeValue | undefined;
  readonly d: AttributeValue | undefined;
  readonly attributes: Attributes;
}

/**
 * Templated attributes of up to four fixed keys, for the last few combinations of their values:
 * the ones a span site meets are few (a gateway's methods, schemes and ports; its routes and
 * operations), and a short scan costs less than building a key to look them up by. Past `size`
 * combinations the oldest is forgotten, and made again if it comes back: correct, only slower.
 */
export class RecentTemplates {
  private readonly recent: Recent[] = [];
  private next = 0;

  constructor(
    /** One to four keys; `of` takes their values in this order. */
    private readonly keys: readonly string[],
    private readonly size = 64,
  ) {}

  of(
    a: AttributeValue | undefined,
    b?: AttributeValue,
    c?: AttributeValue,
    d?: AttributeValue,
  ): Attributes {
    const recent = this.recent;
    for (let i = 0; i < recent.length; i++) {
      const entry = recent[i];
      if (entry.a === a && entry.b === b && entry.c === c && entry.d === d) {
        return entry.attributes;
      }
    }
    const values = [a, b, c, d];
    const plain: Attributes = {};
    this.keys.forEach((key, i) => (plain[key] = values[i]));
    const attributes = templated(plain);
    // The oldest entry makes room once the list is full.
    recent[this.next] = { a, b, c, d, attributes };
    this.next = (this.next + 1) % this.size;
    return attributes;
  }
}
