/**
 * Keys with a TTL, earliest first (a binary min-heap). Entries are never removed when a key is
 * overwritten or deleted; the sweep checks each popped deadline against the key's current one and
 * skips stale entries, which keeps `set` O(log n).
 */
export class ExpiryQueue {
  #deadlines: number[] = []
  #keys: string[] = []

  get size (): number {
    return this.#keys.length
  }

  push (key: string, deadline: number): void {
    this.#deadlines.push(deadline)
    this.#keys.push(key)
    this.#up(this.#keys.length - 1)
  }

  /** The earliest deadline, or Infinity. */
  peek (): number {
    return this.#deadlines[0] ?? Infinity
  }

  /** Removes and returns the earliest entry. */
  pop (): [string, number] | undefined {
    const last = this.#keys.length - 1
    if (last < 0) return undefined
    const top: [string, number] = [this.#keys[0] as string, this.#deadlines[0] as number]
    this.#move(last, 0)
    this.#keys.pop()
    this.#deadlines.pop()
    if (last > 0) this.#down(0)
    return top
  }

  clear (): void {
    this.#deadlines = []
    this.#keys = []
  }

  #move (from: number, to: number): void {
    this.#deadlines[to] = this.#deadlines[from] as number
    this.#keys[to] = this.#keys[from] as string
  }

  #less (a: number, b: number): boolean {
    return (this.#deadlines[a] as number) < (this.#deadlines[b] as number)
  }

  #swap (a: number, b: number): void {
    const deadline = this.#deadlines[a] as number
    const key = this.#keys[a] as string
    this.#move(b, a)
    this.#deadlines[b] = deadline
    this.#keys[b] = key
  }

  #up (index: number): void {
    while (index > 0) {
      const parent = (index - 1) >> 1
      if (!this.#less(index, parent)) return
      this.#swap(index, parent)
      index = parent
    }
  }

  #down (index: number): void {
    const length = this.#keys.length
    while (true) {
      const left = 2 * index + 1
      const right = left + 1
      let smallest = index
      if (left < length && this.#less(left, smallest)) smallest = left
      if (right < length && this.#less(right, smallest)) smallest = right
      if (smallest === index) return
      this.#swap(index, smallest)
      index = smallest
    }
  }
}
