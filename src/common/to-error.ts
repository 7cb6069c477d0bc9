/** A thrown or rejected value as an Error (a non-Error becomes one with its text). */
export function toError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
}
