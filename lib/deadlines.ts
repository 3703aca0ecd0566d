/**
 * Deadlines as wall-clock epoch ms, kept in one place: Node runs a timer longer than 2^31-1 ms
 * after 1 ms instead, so a far deadline is reached in steps and re-armed, never clamped. A ttl, a
 * lock wait or a lease of any length a number of ms can say therefore holds.
 */

/** The longest delay Node's timers take as given. */
export const MAX_TIMER_MS = 2 ** 31 - 1

/** The longest duration accepted for a ttl, a lock wait or a lease: any safe integer of ms. */
export const MAX_MS = Number.MAX_SAFE_INTEGER

/** The epoch ms `ms` from now, kept a safe integer however far (it travels as one). */
export function deadlineIn (ms: number): number {
  return Math.min(Date.now() + ms, Number.MAX_SAFE_INTEGER)
}

/** Past this many due entries in one go, the rest wait for the next turn, so I/O goes on. */
const FIRE_SLICE = 1000

/**
 * One timer that calls `fire` once the clock reaches the deadline it was armed for, however far.
 * Background work only: the timer never keeps the process alive.
 */
export class DeadlineTimer {
  readonly #fire: () => void
  #timer: NodeJS.Timeout | undefined
  #deadline = Infinity

  constructor (fire: () => void) {
    this.#fire = fire
  }

  /** The deadline armed, or Infinity. */
  get deadline (): number {
    return this.#deadline
  }

  /** Fires at `deadline` (epoch ms) instead of whatever was armed; not before `minDelay` ms. */
  arm (deadline: number, minDelay = 0): void {
    clearTimeout(this.#timer)
    this.#deadline = deadline
    this.#start(minDelay)
  }

  clear (): void {
    clearTimeout(this.#timer)
    this.#timer = undefined
    this.#deadline = Infinity
  }

  #start (minDelay: number): void {
    const delay = Math.max(minDelay, this.#deadline - Date.now())
    this.#timer = setTimeout(() => {
      if (this.#deadline - Date.now() > 0) return this.#start(0)
      this.#timer = undefined
      this.#deadline = Infinity
      this.#fire()
    }, Math.min(delay, MAX_TIMER_MS))
    this.#timer.unref()
  }
}

/** An entry of a DeadlineQueue: its deadline, and its place in the queue (-1: not queued). */
export interface Timed {
  deadline: number
  slot: number
}

/**
 * Entries with a deadline, earliest first (a binary min-heap that knows each entry's place), with
 * one timer for the whole queue. An entry leaves at once when it is removed, in O(log n), so
 * nothing done early lingers until its deadline. Due entries are handed to `due` in slices.
 */
export class DeadlineQueue<T extends Timed> {
  #heap: T[] = []
  readonly #due: (entry: T) => void
  readonly #timer: DeadlineTimer
  #firing = false

  constructor (due: (entry: T) => void) {
    this.#due = due
    this.#timer = new DeadlineTimer(() => this.#fireDue())
  }

  get size (): number {
    return this.#heap.length
  }

  /** Queues `entry` for its `deadline`. */
  add (entry: T): void {
    entry.slot = this.#heap.length
    this.#heap.push(entry)
    this.#up(entry.slot)
    this.#arm()
  }

  /** Takes `entry` out; false when it was not queued. */
  remove (entry: T): boolean {
    const slot = entry.slot
    if (slot < 0 || this.#heap[slot] !== entry) return false
    entry.slot = -1
    const last = this.#heap.pop() as T
    // An empty queue lets its timer go: an armed timer would keep the queue and its owner (a lock
    // cohort of a name never used again, say) alive until the deadline passed.
    if (this.#heap.length === 0 && !this.#firing) this.#timer.clear()
    if (last !== entry) {
      this.#heap[slot] = last
      last.slot = slot
      this.#down(slot)
      this.#up(last.slot)
    }
    return true
  }

  /**
   * Takes many entries out at once. Past a share of the queue it is cheaper to rebuild the heap
   * in one linear pass than to remove each in log time.
   */
  removeAll (entries: Iterable<T>, count: number): void {
    if (count < 64 || count * 8 < this.#heap.length) {
      for (const entry of entries) this.remove(entry)
      return
    }
    for (const entry of entries) entry.slot = -1
    const kept = this.#heap.filter((entry) => entry.slot !== -1)
    this.#heap = kept
    if (kept.length === 0 && !this.#firing) this.#timer.clear()
    for (let slot = 0; slot < kept.length; slot++) (kept[slot] as T).slot = slot
    for (let slot = (kept.length >> 1) - 1; slot >= 0; slot--) this.#down(slot)
  }

  /** Forgets every entry and stops the timer. */
  clear (): void {
    for (const entry of this.#heap) entry.slot = -1
    this.#heap = []
    this.#timer.clear()
  }

  #arm (): void {
    const first = this.#heap[0]
    if (first === undefined) return this.#timer.clear()
    if (!this.#firing && first.deadline !== this.#timer.deadline) this.#timer.arm(first.deadline)
  }

  #fireDue (): void {
    this.#firing = true
    const now = Date.now()
    let fired = 0
    try {
      while (fired < FIRE_SLICE) {
        const first = this.#heap[0]
        if (first === undefined || first.deadline > now) break
        this.remove(first)
        fired++
        this.#due(first)
      }
    } finally {
      this.#firing = false
    }
    const first = this.#heap[0]
    if (first !== undefined && first.deadline <= now) {
      setImmediate(() => this.#fireDue())
    } else {
      this.#arm()
    }
  }

  #less (a: number, b: number): boolean {
    return (this.#heap[a] as T).deadline < (this.#heap[b] as T).deadline
  }

  #swap (a: number, b: number): void {
    const entry = this.#heap[a] as T
    const other = this.#heap[b] as T
    this.#heap[a] = other
    other.slot = a
    this.#heap[b] = entry
    entry.slot = b
  }

  #up (slot: number): void {
    while (slot > 0) {
      const parent = (slot - 1) >> 1
      if (!this.#less(slot, parent)) return
      this.#swap(slot, parent)
      slot = parent
    }
  }

  #down (slot: number): void {
    const length = this.#heap.length
    while (true) {
      const left = 2 * slot + 1
      const right = left + 1
      let smallest = slot
      if (left < length && this.#less(left, smallest)) smallest = left
      if (right < length && this.#less(right, smallest)) smallest = right
      if (smallest === slot) return
      this.#swap(slot, smallest)
      slot = smallest
    }
  }
}
