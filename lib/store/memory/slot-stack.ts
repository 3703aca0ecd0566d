// Segments of this many slots; the stack grows by one without copying what it holds.
const SEGMENT_BITS = 16
const SEGMENT_SIZE = 1 << SEGMENT_BITS
const SEGMENT_MASK = SEGMENT_SIZE - 1

/**
 * Free slot numbers, last freed first, in typed-array segments: millions of keys expiring at once
 * leave millions of free slots, which this holds in 4 bytes each and the garbage collector never
 * walks.
 */
export class SlotStack {
  readonly #segments: Uint32Array[] = []
  #size = 0

  get size (): number {
    return this.#size
  }

  push (slot: number): void {
    const segment = this.#size >>> SEGMENT_BITS
    if (segment === this.#segments.length) this.#segments.push(new Uint32Array(SEGMENT_SIZE))
    ;(this.#segments[segment] as Uint32Array)[this.#size & SEGMENT_MASK] = slot
    this.#size++
  }

  /** The slot freed last, or -1. */
  pop (): number {
    if (this.#size === 0) return -1
    this.#size--
    const slot = (this.#segments[this.#size >>> SEGMENT_BITS] as Uint32Array)[this.#size & SEGMENT_MASK] as number
    // An emptied segment beyond the one in use goes: a burst of frees does not pin its memory.
    if ((this.#size & SEGMENT_MASK) === 0 && this.#segments.length > (this.#size >>> SEGMENT_BITS) + 1) this.#segments.pop()
    return slot
  }
}
