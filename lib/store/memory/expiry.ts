// The heap and the positions grow by whole segments, never by copying what they hold.
const SEGMENT_BITS = 16
const SEGMENT_SIZE = 1 << SEGMENT_BITS
const SEGMENT_MASK = SEGMENT_SIZE - 1

/**
 * Slots with a deadline, earliest first: a binary min-heap of (deadline, slot) in typed arrays,
 * with each slot's position in it, so a new deadline moves the slot's one entry and a removed key
 * takes its entry along. The queue holds one entry per slot, never stale ones, and no heap object.
 */
export class ExpiryQueue {
  readonly #deadlines: Float64Array[] = []
  readonly #slots: Uint32Array[] = []
  /** Per slot, its heap position + 1 (0: not queued); a segment exists once one of its slots is queued. */
  readonly #positions: Array<Uint32Array | undefined> = []
  #size = 0

  get size (): number {
    return this.#size
  }

  /** The earliest deadline, or Infinity. */
  peek (): number {
    return this.#size === 0 ? Infinity : (this.#deadlines[0] as Float64Array)[0] as number
  }

  /** The slot with the earliest deadline, or -1. */
  peekSlot (): number {
    return this.#size === 0 ? -1 : (this.#slots[0] as Uint32Array)[0] as number
  }

  /** Queues `slot` at `deadline`, moving its entry if it has one. */
  set (slot: number, deadline: number): void {
    const position = this.#positionOf(slot)
    if (position < 0) {
      const index = this.#size++
      if ((index & SEGMENT_MASK) === 0 && this.#deadlines.length <= index >>> SEGMENT_BITS) {
        this.#deadlines.push(new Float64Array(SEGMENT_SIZE))
        this.#slots.push(new Uint32Array(SEGMENT_SIZE))
      }
      this.#put(index, deadline, slot)
      this.#up(index)
      return
    }
    const before = this.#deadlineAt(position)
    this.#put(position, deadline, slot)
    if (deadline < before) this.#up(position)
    else this.#down(position)
  }

  /** Takes `slot`'s entry out, if it has one. */
  remove (slot: number): void {
    const position = this.#positionOf(slot)
    if (position < 0) return
    this.#setPosition(slot, -1)
    const last = --this.#size
    if (position === last) return
    const deadline = this.#deadlineAt(last)
    const moved = this.#slotAt(last)
    const before = this.#deadlineAt(position)
    this.#put(position, deadline, moved)
    if (deadline < before) this.#up(position)
    else this.#down(position)
  }

  /** Removes and returns the slot with the earliest deadline, or -1. */
  pop (): number {
    const slot = this.peekSlot()
    if (slot >= 0) this.remove(slot)
    return slot
  }

  #positionOf (slot: number): number {
    return (this.#positions[slot >>> SEGMENT_BITS]?.[slot & SEGMENT_MASK] ?? 0) - 1
  }

  #setPosition (slot: number, position: number): void {
    const segment = slot >>> SEGMENT_BITS
    while (this.#positions.length <= segment) this.#positions.push(undefined)
    let positions = this.#positions[segment]
    if (positions === undefined) {
      positions = new Uint32Array(SEGMENT_SIZE)
      this.#positions[segment] = positions
    }
    positions[slot & SEGMENT_MASK] = position + 1
  }

  #deadlineAt (index: number): number {
    return (this.#deadlines[index >>> SEGMENT_BITS] as Float64Array)[index & SEGMENT_MASK] as number
  }

  #slotAt (index: number): number {
    return (this.#slots[index >>> SEGMENT_BITS] as Uint32Array)[index & SEGMENT_MASK] as number
  }

  #put (index: number, deadline: number, slot: number): void {
    ;(this.#deadlines[index >>> SEGMENT_BITS] as Float64Array)[index & SEGMENT_MASK] = deadline
    ;(this.#slots[index >>> SEGMENT_BITS] as Uint32Array)[index & SEGMENT_MASK] = slot
    this.#setPosition(slot, index)
  }

  #up (index: number): void {
    const deadline = this.#deadlineAt(index)
    const slot = this.#slotAt(index)
    while (index > 0) {
      const parent = (index - 1) >>> 1
      const above = this.#deadlineAt(parent)
      if (above <= deadline) break
      this.#put(index, above, this.#slotAt(parent))
      index = parent
    }
    this.#put(index, deadline, slot)
  }

  #down (index: number): void {
    const deadline = this.#deadlineAt(index)
    const slot = this.#slotAt(index)
    const size = this.#size
    while (true) {
      const left = 2 * index + 1
      if (left >= size) break
      const right = left + 1
      const child = right < size && this.#deadlineAt(right) < this.#deadlineAt(left) ? right : left
      const below = this.#deadlineAt(child)
      if (below >= deadline) break
      this.#put(index, below, this.#slotAt(child))
      index = child
    }
    this.#put(index, deadline, slot)
  }
}
