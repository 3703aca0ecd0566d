import type { LiveValue } from './stored-value'

// Decoded values kept at most; beyond it the least recently used goes back to bytes. A run of
// nested edits on one key decodes once, and a map of millions of edited keys is not millions of
// heap objects.
const DEFAULT_CAPACITY = 1024

/** The decoded values the table keeps, by slot, least recently used first. */
export class LiveValues {
  readonly #values = new Map<number, LiveValue>()
  readonly #capacity: number

  constructor (capacity = DEFAULT_CAPACITY) {
    this.#capacity = capacity
  }

  get size (): number {
    return this.#values.size
  }

  get (slot: number): LiveValue | undefined {
    return this.#values.get(slot)
  }

  /** Keeps `value` for `slot` as the most recent; returns the slot and value evicted, if any. */
  set (slot: number, value: LiveValue): [number, LiveValue] | undefined {
    this.#values.delete(slot)
    this.#values.set(slot, value)
    if (this.#values.size <= this.#capacity) return undefined
    const [oldest, evicted] = this.#values.entries().next().value as [number, LiveValue]
    this.#values.delete(oldest)
    return [oldest, evicted]
  }

  delete (slot: number): void {
    this.#values.delete(slot)
  }
}
