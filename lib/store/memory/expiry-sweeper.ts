import { ExpiryQueue } from './expiry'

// Keys expiring in one go are reclaimed in slices of this many, yielding to I/O in between, so a
// mass expiry never stalls the host's event loop.
const SWEEP_SLICE = 1000
const SWEEP_MIN_DELAY = 50
// Node fires a longer timer after 1 ms; a far deadline is reached in steps of this.
const MAX_TIMER_MS = 2 ** 31 - 1

/**
 * Reclaims the memory of expired keys in the background, with one unref'd timer set for the
 * earliest deadline. Expired keys are already invisible (the state checks on every access); this
 * only frees them. `reclaim(key, deadline)` decides whether the key still has that deadline.
 */
export class ExpirySweeper {
  readonly #queue = new ExpiryQueue()
  readonly #reclaim: (key: string, deadline: number) => void
  #timer: NodeJS.Timeout | undefined
  #timerDeadline = Infinity
  #closed = false

  constructor (reclaim: (key: string, deadline: number) => void) {
    this.#reclaim = reclaim
  }

  schedule (key: string, deadline: number): void {
    this.#queue.push(key, deadline)
    this.#arm(deadline, SWEEP_MIN_DELAY)
  }

  /** Reclaims up to `limit` due keys; true when more are due. */
  sweepDue (limit: number): boolean {
    const now = Date.now()
    for (let n = 0; n < limit; n++) {
      if (this.#queue.peek() > now) return false
      const [key, deadline] = this.#queue.pop() as [string, number]
      this.#reclaim(key, deadline)
    }
    return this.#queue.peek() <= now
  }

  clear (): void {
    this.#queue.clear()
  }

  close (): void {
    this.#closed = true
    clearTimeout(this.#timer)
  }

  #arm (deadline: number, minDelay: number): void {
    if (deadline >= this.#timerDeadline || this.#closed) return
    clearTimeout(this.#timer)
    this.#timerDeadline = deadline
    this.#timer = setTimeout(() => this.#sweep(), Math.min(MAX_TIMER_MS, Math.max(minDelay, deadline - Date.now())))
    this.#timer.unref()
  }

  #sweep (): void {
    this.#timerDeadline = Infinity
    if (this.sweepDue(SWEEP_SLICE)) this.#arm(0, 0)
    else this.#arm(this.#queue.peek(), SWEEP_MIN_DELAY)
  }
}
