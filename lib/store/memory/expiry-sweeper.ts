import { DeadlineTimer } from '../../deadlines'
import { ExpiryQueue } from './expiry'

// Keys expiring in one go are reclaimed in slices of this many, yielding to I/O in between, so a
// mass expiry never stalls the host's event loop.
const SWEEP_SLICE = 1000
const SWEEP_MIN_DELAY = 50
// The queue is rebuilt from the latest deadlines once it holds more than twice as many entries
// as there are keys, plus this many: a key given a new deadline on every write (a session touched
// on every request) leaves an entry per write behind, until each entry's own deadline.
const COMPACT_SLACK = 1024

/**
 * Reclaims the memory of expired keys in the background, with one unref'd timer set for the
 * earliest deadline. Expired keys are already invisible (the state checks on every access); this
 * only frees them. `reclaim(key, deadline)` decides whether the key still has that deadline.
 */
export class ExpirySweeper {
  readonly #queue = new ExpiryQueue()
  /** Each key's latest deadline queued here; the state still decides at reclaim time. */
  readonly #latest = new Map<string, number>()
  readonly #reclaim: (key: string, deadline: number) => void
  readonly #timer = new DeadlineTimer(() => this.#sweep())
  #closed = false

  constructor (reclaim: (key: string, deadline: number) => void) {
    this.#reclaim = reclaim
  }

  /**
   * Reclaims `key` at `deadline`. `previous`, the deadline the key had: an unchanged one is queued
   * already, and a key written on every hit with the same ttl (a rate-limit window) must not add
   * an entry each time.
   */
  schedule (key: string, deadline: number, previous = 0): void {
    if (deadline === previous) return
    this.#latest.set(key, deadline)
    this.#queue.push(key, deadline)
    if (this.#queue.size > 2 * this.#latest.size + COMPACT_SLACK) this.#compact()
    this.#arm(deadline, SWEEP_MIN_DELAY)
  }

  /** Deadlines queued, stale ones included. */
  get queued (): number {
    return this.#queue.size
  }

  /** Reclaims up to `limit` due keys; true when more are due. */
  sweepDue (limit: number): boolean {
    const now = Date.now()
    for (let n = 0; n < limit; n++) {
      if (this.#queue.peek() > now) return false
      const [key, deadline] = this.#queue.pop() as [string, number]
      if (this.#latest.get(key) !== deadline) continue
      this.#latest.delete(key)
      this.#reclaim(key, deadline)
    }
    return this.#queue.peek() <= now
  }

  clear (): void {
    this.#queue.clear()
    this.#latest.clear()
  }

  close (): void {
    this.#closed = true
    this.#timer.clear()
  }

  /** Keeps one entry per key: its latest deadline. */
  #compact (): void {
    this.#queue.clear()
    for (const [key, deadline] of this.#latest) this.#queue.push(key, deadline)
  }

  #arm (deadline: number, minDelay: number): void {
    if (deadline >= this.#timer.deadline || this.#closed || deadline === Infinity) return
    this.#timer.arm(deadline, minDelay)
  }

  #sweep (): void {
    if (this.sweepDue(SWEEP_SLICE)) this.#arm(0, 0)
    else this.#arm(this.#queue.peek(), SWEEP_MIN_DELAY)
  }
}
