// Keys are hashed on at most this many code units from each end: enough to spread ids, cheap for
// long keys.
const HASHED_UNITS = 32
const FNV_OFFSET = 0x811c9dc5
const FNV_PRIME = 0x01000193

/** Mixes FNV's state so its low and high bits both depend on every unit (see HashIndex). */
function finish (hash: number): number {
  hash = Math.imul(hash ^ (hash >>> 16), 0x85ebca6b)
  hash = Math.imul(hash ^ (hash >>> 13), 0xc2b2ae35)
  return (hash ^ (hash >>> 16)) >>> 0
}

/** FNV-1a over the code units of `key` (both ends of a long key) and its length, then mixed. */
export function hashKey (key: string): number {
  const length = key.length
  let hash = FNV_OFFSET ^ length
  if (length <= 2 * HASHED_UNITS) {
    for (let i = 0; i < length; i++) hash = Math.imul(hash ^ key.charCodeAt(i), FNV_PRIME)
  } else {
    for (let i = 0; i < HASHED_UNITS; i++) hash = Math.imul(hash ^ key.charCodeAt(i), FNV_PRIME)
    for (let i = length - HASHED_UNITS; i < length; i++) hash = Math.imul(hash ^ key.charCodeAt(i), FNV_PRIME)
  }
  return finish(hash)
}

/**
 * The same hash as `hashKey`, of a key kept as `length` code units at `bytes[start]`: one byte
 * each, or two (little-endian) when `wide`.
 */
export function hashUnits (bytes: Uint8Array, start: number, length: number, wide: boolean): number {
  let hash = FNV_OFFSET ^ length
  const ends = length > 2 * HASHED_UNITS
  const head = ends ? HASHED_UNITS : length
  if (!wide) {
    for (let i = 0; i < head; i++) hash = Math.imul(hash ^ (bytes[start + i] as number), FNV_PRIME)
    if (ends) for (let i = length - HASHED_UNITS; i < length; i++) hash = Math.imul(hash ^ (bytes[start + i] as number), FNV_PRIME)
    return finish(hash)
  }
  for (let i = 0; i < head; i++) hash = Math.imul(hash ^ wideUnit(bytes, start, i), FNV_PRIME)
  if (ends) for (let i = length - HASHED_UNITS; i < length; i++) hash = Math.imul(hash ^ wideUnit(bytes, start, i), FNV_PRIME)
  return finish(hash)
}

function wideUnit (bytes: Uint8Array, start: number, i: number): number {
  return (bytes[start + 2 * i] as number) | ((bytes[start + 2 * i + 1] as number) << 8)
}
