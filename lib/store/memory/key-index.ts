// A chunk splits in two above this many keys, and merges into its right neighbour below a quarter
// of it: inserting shifts at most this many pointers, and the list of chunks stays short enough
// (one entry per thousand keys or so) to splice into without a pause.
const CHUNK_MAX = 1024
const CHUNK_MIN = CHUNK_MAX / 4

/** The first index in sorted `keys` whose key is not below `key` (or above it, with `after`). */
function search (keys: readonly string[], key: string, after: boolean): number {
  let low = 0
  let high = keys.length
  while (low < high) {
    const middle = (low + high) >>> 1
    const probe = keys[middle] as string
    if (probe < key || (after && probe === key)) low = middle + 1
    else high = middle
  }
  return low
}

/**
 * Every key in sorted order (UTF-16 code units, so the keys sharing a prefix are one contiguous
 * run), as a list of sorted chunks. A prefix query finds its first key in two binary searches and
 * reads on from there, so it costs what it returns, whatever the size of the map; and since a
 * position is a key, not an offset, a reader can stop and resume after any change.
 */
export class KeyIndex {
  #chunks: string[][] = [[]]
  /** The first key of each chunk; a key below them all belongs to the first chunk. */
  #firsts: string[] = ['']

  /** Adds a key the index does not hold. */
  add (key: string): void {
    const at = this.#chunkOf(key)
    const chunk = this.#chunks[at] as string[]
    const position = search(chunk, key, false)
    chunk.splice(position, 0, key)
    if (position === 0) this.#firsts[at] = key
    if (chunk.length > CHUNK_MAX && position === CHUNK_MAX && at === this.#chunks.length - 1) {
      // Keys arriving in order (a handover, a reloaded log) start a new last chunk and leave the
      // full one full: halving would leave every chunk behind them half empty for good.
      chunk.pop()
      this.#chunks.push([key])
      this.#firsts.push(key)
    } else if (chunk.length > CHUNK_MAX) {
      // Two new arrays of exactly their size: a chunk cut down in place would keep its whole
      // capacity, and half of it would never be used.
      const half = chunk.length >>> 1
      const upper = chunk.slice(half)
      this.#chunks.splice(at, 1, chunk.slice(0, half), upper)
      this.#firsts.splice(at + 1, 0, upper[0] as string)
    }
  }

  /** Removes a key the index holds. */
  delete (key: string): void {
    const at = this.#chunkOf(key)
    const chunk = this.#chunks[at] as string[]
    const position = search(chunk, key, false)
    if (chunk[position] !== key) return
    chunk.splice(position, 1)
    if (chunk.length > 0 && position === 0) this.#firsts[at] = chunk[0] as string
    const next = this.#chunks[at + 1]
    if (chunk.length < CHUNK_MIN && next !== undefined && chunk.length + next.length <= CHUNK_MAX) {
      for (const moved of next) chunk.push(moved)
      if (chunk.length > 0) this.#firsts[at] = chunk[0] as string
      this.#chunks.splice(at + 1, 1)
      this.#firsts.splice(at + 1, 1)
    } else if (chunk.length === 0 && this.#chunks.length > 1) {
      this.#chunks.splice(at, 1)
      this.#firsts.splice(at, 1)
    }
  }

  clear (): void {
    this.#chunks = [[]]
    this.#firsts = ['']
  }

  /**
   * Calls `visit` with each key starting with `prefix`, in order, from the first one after
   * `after` (all of them when undefined), until `visit` returns false. Returns true when the run
   * of keys with that prefix was read to its end.
   */
  forEach (prefix: string, after: string | undefined, visit: (key: string) => boolean): boolean {
    const from = after !== undefined && after >= prefix ? after : prefix
    const exclusive = from === after
    let at = this.#chunkOf(from)
    let position = search(this.#chunks[at] as string[], from, exclusive)
    for (; at < this.#chunks.length; at++, position = 0) {
      const chunk = this.#chunks[at] as string[]
      for (; position < chunk.length; position++) {
        const key = chunk[position] as string
        if (!key.startsWith(prefix)) return true
        if (!visit(key)) return false
      }
    }
    return true
  }

  /** The chunk where `key` belongs: the last one whose first key is not above it. */
  #chunkOf (key: string): number {
    return Math.max(0, search(this.#firsts, key, true) - 1)
  }
}
