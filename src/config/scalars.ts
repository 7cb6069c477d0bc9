/**
 * Scalar building blocks shared by every config sub-schema: byte sizes, integers, booleans and
 * strict objects. Numbers and booleans also accept their string spelling because `${VAR}`
 * expansion always yields strings (`port: ${PORT:-8080}`).
 */
import { z } from 'zod';

/** 1 KiB in bytes. */
export const KiB = 1024;
/** 1 MiB in bytes. */
export const MiB = 1024 * KiB;
/** 1 GiB in bytes. */
export const GiB = 1024 * MiB;
/** 1 TiB in bytes. */
export const TiB = 1024 * GiB;

const UNITS: Readonly<Record<string, number>> = {
  b: 1,
  kb: 1000,
  mb: 1000 ** 2,
  gb: 1000 ** 3,
  tb: 1000 ** 4,
  kib: KiB,
  mib: MiB,
  gib: GiB,
  tib: TiB,
};

const SIZE_PATTERN = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i;

/** Parses `50MiB`, `16 MiB`, `1GB`, `512KiB`, `100` or a byte count into bytes; throws on bad input. */
export function parseSize(value: string | number): number {
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new Error('must be a whole, non-negative number of bytes');
    }
    return value;
  }
  const match = SIZE_PATTERN.exec(value.trim());
  const unit = match ? UNITS[match[2].toLowerCase() || 'b'] : undefined;
  if (!match || unit === undefined) {
    throw new Error(
      `'${value}' is not a size (use bytes or a unit: B, KB, MB, GB, TB, KiB, MiB, GiB, TiB)`,
    );
  }
  const bytes = Number(match[1]) * unit;
  if (!Number.isSafeInteger(bytes)) {
    throw new Error(`'${value}' is not a whole number of bytes`);
  }
  return bytes;
}

/** Renders a byte count the way a person would write it in the config (`16 MiB`). */
export function formatSize(bytes: number): string {
  for (const [unit, factor] of [
    ['TiB', TiB],
    ['GiB', GiB],
    ['MiB', MiB],
    ['KiB', KiB],
  ] as const) {
    if (bytes >= factor && bytes % factor === 0) return `${bytes / factor} ${unit}`;
  }
  return `${bytes} bytes`;
}

/** A byte size (number or `50MiB`-style string) bounded by `min`/`max`; outputs a number. */
export function size(bounds: { min?: number; max?: number } = {}) {
  const { min = 0, max = Number.MAX_SAFE_INTEGER } = bounds;
  return z
    .union([z.number(), z.string()], {
      error: 'must be a size: a number of bytes or a string like 16MiB',
    })
    .transform((value, ctx) => {
      try {
        return parseSize(value);
      } catch (error) {
        ctx.issues.push({ code: 'custom', message: (error as Error).message, input: value });
        return z.NEVER;
      }
    })
    .pipe(
      z
        .number()
        .min(min, { error: `must be at least ${formatSize(min)}` })
        .max(max, { error: `must be at most ${formatSize(max)}` }),
    );
}

const INTEGER_STRING = /^\s*[-+]?\d+\s*$/;
const NUMBER_STRING = /^\s*[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?\s*$/i;

/** An integer in `[min, max]`; a numeric string such as an expanded `${VAR}` is accepted. */
export function int(bounds: { min?: number; max?: number } = {}) {
  const { min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER } = bounds;
  return z.preprocess(
    (value) => (typeof value === 'string' && INTEGER_STRING.test(value) ? Number(value) : value),
    z.int().min(min).max(max),
  );
}

/** A finite number in `[min, max]`; a numeric string is accepted. */
export function num(bounds: { min?: number; max?: number } = {}) {
  const { min = -Number.MAX_VALUE, max = Number.MAX_VALUE } = bounds;
  return z.preprocess(
    (value) => (typeof value === 'string' && NUMBER_STRING.test(value) ? Number(value) : value),
    z.number().min(min).max(max),
  );
}

/** A boolean; the strings `true`/`false` (any case) are accepted. */
export function bool() {
  return z.preprocess((value) => {
    if (typeof value !== 'string') return value;
    const lower = value.trim().toLowerCase();
    return lower === 'true' ? true : lower === 'false' ? false : value;
  }, z.boolean());
}

/** A TCP port, 1–65535. */
export function port() {
  return int({ min: 1, max: 65535 });
}

/** A non-empty string after trimming surrounding whitespace. */
export function nonEmptyString() {
  return z.string().trim().min(1, { error: 'must not be empty' });
}

/** An absolute http(s) URL. */
export function httpUrl() {
  return z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' });
}

/** Runs a refinement even when the object's own fields already failed, so every problem is listed. */
export const evenWithErrors = {
  when: (payload: { value: unknown }): boolean =>
    typeof payload.value === 'object' && payload.value !== null && !Array.isArray(payload.value),
};

/** True for a plain object, used by refinements that run on possibly-invalid input. */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
