import type { StoredValue } from './stored-value'

// The columns grow by whole segments, never by copying what they hold, so adding the ten
// millionth key costs what adding the first did.
const SEGMENT_BITS = 16
const SEGMENT_SIZE = 1 << SEGMENT_BITS
const SEGMENT_MASK = SEGMENT_SIZE - 1

// Keys spread over this many Maps. A Map grows by rehashing every entry in one go, which at
// millions of keys holds the event loop for seconds, and holds at most 2^24 entries; each shard
// holds a 256th of the keys, so its growth is a short pause and the limit is far away.
const SHARD_BITS = 8
const SHARD_MASK = (1 << SHARD_BITS) - 1
// Keys are hashed on at most this many code units from each end: enough to spread ids, cheap for
// long keys.
const HASHED_UNITS = 32

/** A shard for `key`: FNV-1a over its code units (both ends of a long key) and its length. */
function shardOf (key: string): number {
  const length = key.length
  let hash = 0x811c9dc5 ^ length
  if (length <= 2 * HASHED_UNITS) {
    for (let i = 0; i < length; i++) hash = Math.imul(hash ^ key.charCodeAt(i), 0x01000193)
  } else {
    for (let i = 0; i < HASHED_UNITS; i++) hash = Math.imul(hash ^ key.charCodeAt(i), 0x01000193)
    for (let i = length - HASHED_UNITS; i < length; i++) hash = Math.imul(hash ^ key.charCodeAt(i), 0x01000193)
  }
  return (hash ^ (hash >>> 16)) & SHARD_MASK
}

/**
 * The host's entries, one slot each, in columns instead of an object per entry: Maps (sharded,
 * see above) from key to slot number (a small integer, kept inside the Map), then per slot the stored value, its
 * version (32 bits: see MemoryState's clock) and its deadline in typed arrays. A freed slot is
 * reused by the next key added.
 */
export class EntryTable {
  readonly #shards = Array.from({ length: SHARD_MASK + 1 }, () => new Map<string, number>())
  #size = 0
  readonly #values: StoredValue[][] = []
  readonly #versions: Uint32Array[] = []
  /** A segment's deadlines exist once one of its keys has one: a map without ttls has none. */
  readonly #deadlines: Array<Float64Array | undefined> = []
  readonly #free: number[] = []
  #end = 0

  get size (): number {
    return this.#size
  }

  slotOf (key: string): number | undefined {
    return (this.#shards[shardOf(key)] as Map<string, number>).get(key)
  }

  add (key: string, value: StoredValue, version: number, deadline: number): number {
    let slot = this.#free.pop()
    if (slot === undefined) {
      slot = this.#end++
      if ((slot & SEGMENT_MASK) === 0) this.#grow()
    }
    ;(this.#shards[shardOf(key)] as Map<string, number>).set(key, slot)
    this.#size++
    this.write(slot, value, version, deadline)
    return slot
  }

  remove (key: string, slot: number): void {
    ;(this.#shards[shardOf(key)] as Map<string, number>).delete(key)
    this.#size--
    // The value goes now, not when the slot is next used.
    ;(this.#values[slot >>> SEGMENT_BITS] as StoredValue[])[slot & SEGMENT_MASK] = 0
    this.#free.push(slot)
  }

  write (slot: number, value: StoredValue, version: number, deadline: number): void {
    const segment = slot >>> SEGMENT_BITS
    const offset = slot & SEGMENT_MASK
    ;(this.#values[segment] as StoredValue[])[offset] = value
    ;(this.#versions[segment] as Uint32Array)[offset] = version
    this.#setDeadline(segment, offset, deadline)
  }

  value (slot: number): StoredValue {
    return (this.#values[slot >>> SEGMENT_BITS] as StoredValue[])[slot & SEGMENT_MASK] as StoredValue
  }

  setValue (slot: number, value: StoredValue): void {
    (this.#values[slot >>> SEGMENT_BITS] as StoredValue[])[slot & SEGMENT_MASK] = value
  }

  version (slot: number): number {
    return (this.#versions[slot >>> SEGMENT_BITS] as Uint32Array)[slot & SEGMENT_MASK] as number
  }

  /** Epoch ms, or 0 for no expiry. */
  deadline (slot: number): number {
    return this.#deadlines[slot >>> SEGMENT_BITS]?.[slot & SEGMENT_MASK] ?? 0
  }

  setDeadline (slot: number, deadline: number): void {
    this.#setDeadline(slot >>> SEGMENT_BITS, slot & SEGMENT_MASK, deadline)
  }

  #grow (): void {
    this.#values.push(new Array<StoredValue>(SEGMENT_SIZE).fill(0))
    this.#versions.push(new Uint32Array(SEGMENT_SIZE))
    this.#deadlines.push(undefined)
  }

  #setDeadline (segment: number, offset: number, deadline: number): void {
    let deadlines = this.#deadlines[segment]
    if (deadlines === undefined) {
      if (deadline === 0) return
      deadlines = new Float64Array(SEGMENT_SIZE)
      this.#deadlines[segment] = deadlines
    }
    deadlines[offset] = deadline
  }
}
