// Slots spread over this many tables by the top bits of their hash. A table doubles by rehashing
// what it holds; each holds a 1024th of the keys, so growing one at ten million keys moves about
// ten thousand slots: a fraction of a millisecond, never the whole map at once.
const SHARD_BITS = 10
const SHARD_SHIFT = 32 - SHARD_BITS
const INITIAL_BUCKETS = 8
// A table grows past this fill; linear probing stays short below it.
const MAX_LOAD = 0.8
// Keys are hashed on at most this many code units from each end: enough to spread ids, cheap for
// long keys.
const HASHED_UNITS = 32

/** FNV-1a over the code units of `key` (both ends of a long key) and its length, then mixed. */
export function hashKey (key: string): number {
  const length = key.length
  let hash = 0x811c9dc5 ^ length
  if (length <= 2 * HASHED_UNITS) {
    for (let i = 0; i < length; i++) hash = Math.imul(hash ^ key.charCodeAt(i), 0x01000193)
  } else {
    for (let i = 0; i < HASHED_UNITS; i++) hash = Math.imul(hash ^ key.charCodeAt(i), 0x01000193)
    for (let i = length - HASHED_UNITS; i < length; i++) hash = Math.imul(hash ^ key.charCodeAt(i), 0x01000193)
  }
  // FNV's low and high bits mix poorly for keys that differ in their last unit: both are used.
  hash = Math.imul(hash ^ (hash >>> 16), 0x85ebca6b)
  hash = Math.imul(hash ^ (hash >>> 13), 0xc2b2ae35)
  return (hash ^ (hash >>> 16)) >>> 0
}

/** Whether a slot holds a key, as the table answers it. */
export type HoldsKey = (slot: number, key: string) => boolean

const SEGMENT_BITS = 16
const SEGMENT_MASK = (1 << SEGMENT_BITS) - 1

/**
 * Key to slot, as open-addressing tables of slot numbers (slot + 1; 0 is empty) in typed arrays:
 * no heap object per key. A probe compares the slot's stored hash first and the key itself only
 * on a match. Removal shifts the probe run back, so there are no tombstones.
 */
export class HashIndex {
  /** Each slot's hash, in the table's segments of 2^16 slots (read here, written by the table). */
  readonly #hashes: Uint32Array[]
  readonly #holds: HoldsKey
  readonly #tables: Uint32Array[] = []
  readonly #counts = new Uint32Array(1 << SHARD_BITS)

  constructor (hashes: Uint32Array[], holds: HoldsKey) {
    this.#hashes = hashes
    this.#holds = holds
    for (let shard = 0; shard < 1 << SHARD_BITS; shard++) this.#tables.push(new Uint32Array(INITIAL_BUCKETS))
  }

  /** The slot holding `key` (whose hash is `hash`), or -1. */
  find (key: string, hash: number): number {
    const table = this.#tables[hash >>> SHARD_SHIFT] as Uint32Array
    const mask = table.length - 1
    for (let bucket = hash & mask; ; bucket = (bucket + 1) & mask) {
      const entry = table[bucket] as number
      if (entry === 0) return -1
      const slot = entry - 1
      if (this.#hashOf(slot) === hash && this.#holds(slot, key)) return slot
    }
  }

  /** Adds `slot`, whose key (of hash `hash`) the index does not hold. */
  insert (hash: number, slot: number): void {
    const shard = hash >>> SHARD_SHIFT
    let table = this.#tables[shard] as Uint32Array
    const count = (this.#counts[shard] as number) + 1
    if (count > table.length * MAX_LOAD) table = this.#grow(shard, table)
    this.#counts[shard] = count
    place(table, hash, slot)
  }

  /** Removes `slot`, which the index holds under `hash`. */
  remove (hash: number, slot: number): void {
    const shard = hash >>> SHARD_SHIFT
    const table = this.#tables[shard] as Uint32Array
    const mask = table.length - 1
    let hole = hash & mask
    while (table[hole] !== slot + 1) {
      if (table[hole] === 0) return
      hole = (hole + 1) & mask
    }
    this.#counts[shard] = (this.#counts[shard] as number) - 1
    // Each later entry of the run moves into the hole unless its home lies between them.
    for (let next = (hole + 1) & mask; table[next] !== 0; next = (next + 1) & mask) {
      const home = this.#hashOf((table[next] as number) - 1) & mask
      const between = hole <= next ? home > hole && home <= next : home > hole || home <= next
      if (between) continue
      table[hole] = table[next] as number
      hole = next
    }
    table[hole] = 0
  }

  #grow (shard: number, table: Uint32Array): Uint32Array {
    const grown = new Uint32Array(table.length * 2)
    for (const entry of table) if (entry !== 0) place(grown, this.#hashOf(entry - 1), entry - 1)
    this.#tables[shard] = grown
    return grown
  }

  #hashOf (slot: number): number {
    return (this.#hashes[slot >>> SEGMENT_BITS] as Uint32Array)[slot & SEGMENT_MASK] as number
  }
}

function place (table: Uint32Array, hash: number, slot: number): void {
  const mask = table.length - 1
  let bucket = hash & mask
  while (table[bucket] !== 0) bucket = (bucket + 1) & mask
  table[bucket] = slot + 1
}
