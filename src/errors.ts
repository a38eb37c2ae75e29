// Checks of API arguments. Misuse throws TypeError (wrong type) or RangeError (bad value) with
// a message naming the argument and the value; guest faults are never thrown.

const U64_LIMIT = 1n << 64n;

function show(value: unknown): string {
  if (typeof value === "bigint") return `${value}n (0x${value.toString(16)})`;
  if (typeof value === "string") return JSON.stringify(value);
  try {
    return String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}

/** Thrown when a destroyed Machine or an exited process is used. */
export class StateError extends Error {
  override name = "StateError";
}

/** A bigint in [0, 2^bits). */
export function checkU(name: string, value: unknown, bits = 64): bigint {
  if (typeof value !== "bigint") throw new TypeError(`${name} must be a bigint, got ${typeof value} ${show(value)}`);
  if (value < 0n || value >= (bits === 64 ? U64_LIMIT : 1n << BigInt(bits))) {
    throw new RangeError(`${name} must be in [0, 2^${bits}), got ${show(value)}`);
  }
  return value;
}

/** A safe integer in [min, max]. */
export function checkInt(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== "number") throw new TypeError(`${name} must be a number, got ${typeof value} ${show(value)}`);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${name} must be an integer in [${min}, ${max}], got ${show(value)}`);
  }
  return value;
}

/** A plain object whose keys are all among the allowed ones (undefined allowed). */
export function checkOptions<T extends object>(name: string, value: unknown, allowed: readonly string[]): Partial<T> {
  if (value === undefined) return {};
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new TypeError(`${name} must be an object, got ${show(value)}`);
  }
  for (const key in value) {
    if (Object.hasOwn(value, key) && !allowed.includes(key)) throw new RangeError(`${name} has an unknown key ${show(key)} (allowed: ${allowed.join(", ")})`);
  }
  return value as Partial<T>;
}

/** An optional boolean option. */
export function checkBool(name: string, value: unknown): boolean {
  if (value === undefined) return false;
  if (typeof value !== "boolean") throw new TypeError(`${name} must be a boolean, got ${typeof value} ${show(value)}`);
  return value;
}

/** A Uint8Array. */
export function checkBytes(name: string, value: unknown): Uint8Array {
  if (!(value instanceof Uint8Array)) throw new TypeError(`${name} must be a Uint8Array, got ${show(value)}`);
  return value;
}
