// A chunk splits in two above this many slots, and merges into its right neighbour below a quarter
// of it: inserting shifts at most 16 KiB of slot numbers (one memmove), and the chunks stay few
// (about one per 3,000 keys), so the list splices without a pause and the collector has few
// objects to visit.
const CHUNK_MAX = 4096
const CHUNK_MIN = CHUNK_MAX / 4

/** What the index needs of the table: each slot's key, compared without making a string. */
export interface KeyedSlots {
  compareKey: (slot: number, key: string) => number
  keyStartsWith: (slot: number, prefix: string) => boolean
  key: (slot: number) => string
}

/** Sorted slots, `count` of them, in room for one more than CHUNK_MAX. */
interface Chunk {
  slots: Uint32Array
  count: number
  /** The key of slots[0], as a string: the chunks are few, and finding one compares these. */
  first: string
}

function newChunk (): Chunk {
  return { slots: new Uint32Array(CHUNK_MAX + 1), count: 0, first: '' }
}

/** The first index in sorted `firsts` whose key is above `key`. */
function firstAbove (firsts: readonly Chunk[], key: string): number {
  let low = 0
  let high = firsts.length
  while (low < high) {
    const middle = (low + high) >>> 1
    if ((firsts[middle] as Chunk).first <= key) low = middle + 1
    else high = middle
  }
  return low
}

/**
 * Every key in sorted order (UTF-16 code units, so the keys sharing a prefix are one contiguous
 * run), as a list of sorted chunks of slot numbers compared through the table's keys: no heap
 * object per key. A prefix query finds its first key in two binary searches and reads on from
 * there, so it costs what it returns, whatever the size of the map; and since a position is a
 * key, not an offset, a reader can stop and resume after any change.
 */
export class KeyIndex {
  readonly #keys: KeyedSlots
  #chunks: Chunk[] = [newChunk()]

  constructor (keys: KeyedSlots) {
    this.#keys = keys
  }

  /** Adds `slot`, whose key (`key`) the index does not hold. */
  add (key: string, slot: number): void {
    const at = this.#chunkOf(key)
    const chunk = this.#chunks[at] as Chunk
    const position = this.#search(chunk, key, false)
    chunk.slots.copyWithin(position + 1, position, chunk.count)
    chunk.slots[position] = slot
    chunk.count++
    if (position === 0) chunk.first = key
    if (chunk.count <= CHUNK_MAX) return
    const upper = newChunk()
    if (position === CHUNK_MAX && at === this.#chunks.length - 1) {
      // Keys arriving in order (a handover, a reloaded log) start a new last chunk and leave the
      // full one full: halving would leave every chunk behind them half empty for good.
      upper.slots[0] = slot
      upper.count = 1
      upper.first = key
      chunk.count--
    } else {
      const half = chunk.count >>> 1
      upper.slots.set(chunk.slots.subarray(half, chunk.count))
      upper.count = chunk.count - half
      upper.first = this.#keys.key(upper.slots[0] as number)
      chunk.count = half
    }
    this.#chunks.splice(at + 1, 0, upper)
  }

  /**
   * Adds `slot` at no search when its key comes after every key held (keys restored in order):
   * the last chunk fills up, then a new one starts, so the chunks stay full.
   */
  addInOrder (key: string, slot: number): void {
    const last = this.#chunks[this.#chunks.length - 1] as Chunk
    if (last.count === 0 || this.#keys.compareKey(last.slots[last.count - 1] as number, key) >= 0) return this.add(key, slot)
    if (last.count < CHUNK_MAX) {
      last.slots[last.count++] = slot
      return
    }
    const next = newChunk()
    next.slots[0] = slot
    next.count = 1
    next.first = key
    this.#chunks.push(next)
  }

  /** The slot of the last key in order, or -1 when the index is empty. */
  last (): number {
    const chunk = this.#chunks[this.#chunks.length - 1] as Chunk
    return chunk.count === 0 ? -1 : chunk.slots[chunk.count - 1] as number
  }

  /**
   * Adds `slot`, whose key the caller found above every key held (`last`), at no comparison: a
   * key restored from a part is then never made a string, except the first of each chunk.
   */
  append (slot: number): void {
    const last = this.#chunks[this.#chunks.length - 1] as Chunk
    if (last.count < CHUNK_MAX) {
      if (last.count === 0) last.first = this.#keys.key(slot)
      last.slots[last.count++] = slot
      return
    }
    const next = newChunk()
    next.slots[0] = slot
    next.count = 1
    next.first = this.#keys.key(slot)
    this.#chunks.push(next)
  }

  /** Removes `slot`, which the index holds under `key`. */
  delete (key: string, slot: number): void {
    const at = this.#chunkOf(key)
    const chunk = this.#chunks[at] as Chunk
    const position = this.#search(chunk, key, false)
    if (position >= chunk.count || chunk.slots[position] !== slot) return
    chunk.slots.copyWithin(position, position + 1, chunk.count)
    chunk.count--
    if (chunk.count > 0 && position === 0) chunk.first = this.#keys.key(chunk.slots[0] as number)
    const next = this.#chunks[at + 1]
    if (chunk.count < CHUNK_MIN && next !== undefined && chunk.count + next.count <= CHUNK_MAX) {
      chunk.slots.set(next.slots.subarray(0, next.count), chunk.count)
      if (chunk.count === 0) chunk.first = next.first
      chunk.count += next.count
      this.#chunks.splice(at + 1, 1)
    } else if (chunk.count === 0 && this.#chunks.length > 1) {
      this.#chunks.splice(at, 1)
    }
  }

  clear (): void {
    this.#chunks = [newChunk()]
  }

  /**
   * Calls `visit` with the slot of each key starting with `prefix`, in order, from the first one
   * after `after` (all of them when undefined), until `visit` returns false. Returns true when the
   * run of keys with that prefix was read to its end. `visit` must not change the index.
   */
  forEach (prefix: string, after: string | undefined, visit: (slot: number) => boolean): boolean {
    const from = after !== undefined && after >= prefix ? after : prefix
    let at = this.#chunkOf(from)
    let position = this.#search(this.#chunks[at] as Chunk, from, from === after)
    for (; at < this.#chunks.length; at++, position = 0) {
      const chunk = this.#chunks[at] as Chunk
      for (; position < chunk.count; position++) {
        const slot = chunk.slots[position] as number
        if (!this.#keys.keyStartsWith(slot, prefix)) return true
        if (!visit(slot)) return false
      }
    }
    return true
  }

  /** The first position in `chunk` whose key is not below `key` (or above it, with `after`). */
  #search (chunk: Chunk, key: string, after: boolean): number {
    let low = 0
    let high = chunk.count
    while (low < high) {
      const middle = (low + high) >>> 1
      const order = this.#keys.compareKey(chunk.slots[middle] as number, key)
      if (order < 0 || (after && order === 0)) low = middle + 1
      else high = middle
    }
    return low
  }

  /** The chunk where `key` belongs: the last one whose first key is not above it. */
  #chunkOf (key: string): number {
    return Math.max(0, firstAbove(this.#chunks, key) - 1)
  }
}
