import type { KeyArena } from './key-arena'

// Records spread over this many tables by the top bits of their key's hash. A table grows by
// rehashing what it holds; each holds a 1024th of the keys, so growing one at ten million keys
// moves about fifteen thousand entries, never the whole map at once.
const SHARD_BITS = 10
const SHARDS = 1 << SHARD_BITS
const SHARD_SHIFT = 32 - SHARD_BITS
// A bucket's place in its table comes from the hash bits below the shard's, scaled to the
// table's capacity, which need not be a power of two.
const HOME_MASK = (1 << SHARD_SHIFT) - 1
const HOME_SCALE = 2 ** -SHARD_SHIFT
const INITIAL_BUCKETS = 8
// A table grows past this fill; linear probing stays short below it, and a probe past a bucket
// of another key costs a hash comparison in the same cache line, not a look at its record.
const MAX_LOAD = 0.85
// A table grows by half, not double, so a full table's fill right after growing is
// MAX_LOAD / 1.5 (0.57), not MAX_LOAD / 2: the buckets cost 8 / 0.57 to 8 / 0.85 bytes a key
// whatever the number of keys, instead of up to 8 / 0.425 when the tables have just doubled.
const GROWTH = 1.5
// The keys of a bulk restore come in key order, so their buckets are spread over every table: at
// a million keys each insert was a cache miss costing more than the rest of restoring the key.
// They wait here as (hash, record) pairs, then go in a table at a time, while its lines are in
// cache. A batch this size takes 1-2 ms to settle.
const PENDING_MAX = 1 << 17

/**
 * Key to record, as open-addressing tables in typed arrays, each bucket a record handle (0 is
 * empty: no record has handle 0) and its key's 32-bit hash side by side: no heap object per key.
 * A lookup compares hashes and reads a record only on a match, so it touches one bucket's cache
 * line and the record, which holds the rest (slot, version, kind, value); growth and removal never
 * read a record. Probing is linear and wraps from the last bucket to the first. Removal shifts the
 * probe run back, so there are no tombstones.
 */
export class HashIndex {
  readonly #arena: KeyArena
  readonly #tables: Uint32Array[] = []
  readonly #counts = new Uint32Array(SHARDS)
  /** Inserts waiting (see insertLater): pairs of hash and record. */
  #pending: Uint32Array | undefined
  #pendingCount = 0

  constructor (arena: KeyArena) {
    this.#arena = arena
    for (let shard = 0; shard < SHARDS; shard++) this.#tables.push(new Uint32Array(2 * INITIAL_BUCKETS))
  }

  /** The record holding `key` (whose hash is `hash`), or 0. */
  find (key: string, hash: number): number {
    if (this.#pendingCount !== 0) this.#settle()
    const table = this.#tables[hash >>> SHARD_SHIFT] as Uint32Array
    const capacity = table.length >>> 1
    for (let bucket = homeOf(hash, capacity); ; bucket = bucket + 1 === capacity ? 0 : bucket + 1) {
      const handle = table[2 * bucket] as number
      if (handle === 0 || (table[2 * bucket + 1] === hash && this.#arena.keyEquals(handle, key))) return handle
    }
  }

  /** The home bucket's first entry for `hash`: read ahead of its lookup, it brings the bucket's line into cache. */
  peek (hash: number): number {
    if (this.#pendingCount !== 0) this.#settle()
    const table = this.#tables[hash >>> SHARD_SHIFT] as Uint32Array
    return table[2 * homeOf(hash, table.length >>> 1)] as number
  }

  /** The record of the first bucket holding `hash` from its home, or 0: a lookup without the key compare. */
  candidate (hash: number): number {
    if (this.#pendingCount !== 0) this.#settle()
    const table = this.#tables[hash >>> SHARD_SHIFT] as Uint32Array
    const capacity = table.length >>> 1
    for (let bucket = homeOf(hash, capacity); ; bucket = bucket + 1 === capacity ? 0 : bucket + 1) {
      const handle = table[2 * bucket] as number
      if (handle === 0 || table[2 * bucket + 1] === hash) return handle
    }
  }

  /** Adds record `handle`, whose key (of hash `hash`) the index does not hold. */
  insert (hash: number, handle: number): void {
    if (this.#pendingCount !== 0) this.#settle()
    this.#add(hash, handle)
  }

  /**
   * As `insert`, for one of many keys restored at once: done before the index is next read or
   * changed, or once many wait, a table at a time.
   */
  insertLater (hash: number, handle: number): void {
    this.#pending ??= new Uint32Array(2 * PENDING_MAX)
    const at = 2 * this.#pendingCount++
    this.#pending[at] = hash
    this.#pending[at + 1] = handle
    if (this.#pendingCount === PENDING_MAX) this.#settle()
  }

  /**
   * Adds the waiting inserts, ordered by table (a counting sort on the shard bits). Each loop is a
   * function of its own: compiled while in its first loop, one function would have no type
   * feedback for the later ones and be thrown away and compiled again at each, five times in the
   * first restore of a process.
   */
  #settle (): void {
    const pending = this.#pending as Uint32Array
    const count = this.#pendingCount
    this.#pendingCount = 0
    this.#addAll(sortByShard(pending, count))
    // A restore is over, or pauses: the buffer is not kept for a map that may never restore again.
    if (count < PENDING_MAX) this.#pending = undefined
  }

  /** Adds every (hash, record) pair of `pairs`. */
  #addAll (pairs: Uint32Array): void {
    for (let i = 0; i < pairs.length; i += 2) this.#add(pairs[i] as number, pairs[i + 1] as number)
  }

  #add (hash: number, handle: number): void {
    const shard = hash >>> SHARD_SHIFT
    let table = this.#tables[shard] as Uint32Array
    const count = (this.#counts[shard] as number) + 1
    if (count > (table.length >>> 1) * MAX_LOAD) table = this.#grow(shard, table)
    this.#counts[shard] = count
    place(table, hash, handle)
  }

  /** The record of the same key moved from `from` to `to`. */
  replace (hash: number, from: number, to: number): void {
    if (this.#pendingCount !== 0) this.#settle()
    const table = this.#tables[hash >>> SHARD_SHIFT] as Uint32Array
    const bucket = bucketOf(table, hash, from)
    if (bucket >= 0) table[2 * bucket] = to
  }

  /** Removes record `handle`, which the index holds under `hash`. */
  remove (hash: number, handle: number): void {
    if (this.#pendingCount !== 0) this.#settle()
    const shard = hash >>> SHARD_SHIFT
    const table = this.#tables[shard] as Uint32Array
    const capacity = table.length >>> 1
    let hole = bucketOf(table, hash, handle)
    if (hole < 0) return
    this.#counts[shard] = (this.#counts[shard] as number) - 1
    // Each later entry of the run moves into the hole unless its home lies cyclically after the
    // hole and at or before the entry: then the hole is not on its probe path.
    for (let next = hole + 1 === capacity ? 0 : hole + 1; table[2 * next] !== 0; next = next + 1 === capacity ? 0 : next + 1) {
      const home = homeOf(table[2 * next + 1] as number, capacity)
      const between = hole <= next ? home > hole && home <= next : home > hole || home <= next
      if (between) continue
      table[2 * hole] = table[2 * next] as number
      table[2 * hole + 1] = table[2 * next + 1] as number
      hole = next
    }
    table[2 * hole] = 0
  }

  /**
   * Makes room for `keys` keys in all at once, so a bulk restore adds them without growing each
   * table a step at a time (at a million keys, fourteen steps a table, moving every key about
   * three times). Keys spread over the tables binomially: each gets room for four standard
   * deviations above its share, so few grow later, and a table that does grows as usual.
   */
  reserve (keys: number): void {
    if (this.#pendingCount !== 0) this.#settle()
    const share = keys / SHARDS
    const capacity = Math.ceil((share + 4 * Math.sqrt(share) + INITIAL_BUCKETS) / MAX_LOAD)
    for (let shard = 0; shard < SHARDS; shard++) {
      const table = this.#tables[shard] as Uint32Array
      if (table.length >>> 1 < capacity) this.#resize(shard, table, capacity)
    }
  }

  #grow (shard: number, table: Uint32Array): Uint32Array {
    return this.#resize(shard, table, Math.ceil((table.length >>> 1) * GROWTH))
  }

  #resize (shard: number, table: Uint32Array, capacity: number): Uint32Array {
    const grown = new Uint32Array(2 * capacity)
    for (let i = 0; i < table.length; i += 2) {
      const handle = table[i] as number
      if (handle !== 0) place(grown, table[i + 1] as number, handle)
    }
    this.#tables[shard] = grown
    return grown
  }
}

/** The first `count` (hash, record) pairs of `pairs`, ordered by shard, in a new array. */
function sortByShard (pairs: Uint32Array, count: number): Uint32Array {
  const starts = shardStarts(pairs, count)
  const sorted = new Uint32Array(2 * count)
  for (let i = 0; i < count; i++) {
    const hash = pairs[2 * i] as number
    const shard = hash >>> SHARD_SHIFT
    const at = 2 * (starts[shard] as number)
    starts[shard] = at / 2 + 1
    sorted[at] = hash
    sorted[at + 1] = pairs[2 * i + 1] as number
  }
  return sorted
}

/** Where each shard's pairs begin once the first `count` pairs are ordered by shard. */
function shardStarts (pairs: Uint32Array, count: number): Uint32Array {
  const starts = new Uint32Array(SHARDS + 1)
  for (let i = 0; i < count; i++) {
    const next = ((pairs[2 * i] as number) >>> SHARD_SHIFT) + 1
    starts[next] = (starts[next] as number) + 1
  }
  return runningSum(starts)
}

/** `counts` made cumulative, in place. */
function runningSum (counts: Uint32Array): Uint32Array {
  for (let i = 1; i < counts.length; i++) counts[i] = (counts[i] as number) + (counts[i - 1] as number)
  return counts
}

/**
 * The first bucket to probe for `hash` in a table of `capacity` buckets: the hash's bits below
 * the shard's, as a fraction of their range, times the capacity. The product stays under 2^53,
 * so it is exact, and the floor is below `capacity`.
 */
function homeOf (hash: number, capacity: number): number {
  return ((hash & HOME_MASK) * capacity * HOME_SCALE) >>> 0
}

function bucketOf (table: Uint32Array, hash: number, handle: number): number {
  const capacity = table.length >>> 1
  for (let bucket = homeOf(hash, capacity); ; bucket = bucket + 1 === capacity ? 0 : bucket + 1) {
    const entry = table[2 * bucket] as number
    if (entry === handle) return bucket
    if (entry === 0) return -1
  }
}

function place (table: Uint32Array, hash: number, handle: number): void {
  const capacity = table.length >>> 1
  let bucket = homeOf(hash, capacity)
  while (table[2 * bucket] !== 0) bucket = bucket + 1 === capacity ? 0 : bucket + 1
  table[2 * bucket] = handle
  table[2 * bucket + 1] = hash
}
