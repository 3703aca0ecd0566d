import { DeadlineTimer } from '../../deadlines'
import { ExpiryQueue } from './expiry'

// Keys expiring in one go are reclaimed a few ms at a time, yielding to I/O in between, so a mass
// expiry never stalls the host's event loop: what one removal costs varies with the map (its
// place in the sorted index, a record to free), so a slice ends after SWEEP_BUDGET_MS, checked
// every SWEEP_STEP keys, or at SWEEP_SLICE keys, whichever comes first.
const SWEEP_BUDGET_MS = 3
const SWEEP_STEP = 64
const SWEEP_SLICE = 1024
const SWEEP_MIN_DELAY = 50

/**
 * Reclaims the memory of expired keys in the background, with one unref'd timer set for the
 * earliest deadline. Expired keys are already invisible (the state checks on every access); this
 * only frees them. The queue holds each slot's current deadline (the state tells it of every
 * change), so whatever key a due slot holds is expired: `reclaim(slot)` removes it.
 */
export class ExpirySweeper {
  #queue = new ExpiryQueue()
  readonly #reclaim: (slot: number) => void
  readonly #timer = new DeadlineTimer(() => this.#sweep())
  #closed = false

  constructor (reclaim: (slot: number) => void) {
    this.#reclaim = reclaim
  }

  /** `slot` now expires at `deadline` (0: never). */
  schedule (slot: number, deadline: number): void {
    if (deadline === 0) {
      this.#queue.remove(slot)
      return
    }
    this.#queue.set(slot, deadline)
    this.#arm(deadline, SWEEP_MIN_DELAY)
  }

  /** `slot`'s key is gone. */
  forget (slot: number): void {
    this.#queue.remove(slot)
  }

  /** Deadlines queued: one per key that has one. */
  get queued (): number {
    return this.#queue.size
  }

  /** Reclaims up to `limit` due keys; true when more are due. */
  sweepDue (limit: number): boolean {
    const now = Date.now()
    for (let n = 0; n < limit && this.#queue.peek() <= now; n++) this.#reclaim(this.#queue.pop())
    return this.#queue.peek() <= now
  }

  clear (): void {
    this.#queue = new ExpiryQueue()
  }

  close (): void {
    this.#closed = true
    this.#timer.clear()
  }

  #arm (deadline: number, minDelay: number): void {
    if (deadline >= this.#timer.deadline || this.#closed || deadline === Infinity) return
    this.#timer.arm(deadline, minDelay)
  }

  #sweep (): void {
    const until = performance.now() + SWEEP_BUDGET_MS
    let more = this.sweepDue(SWEEP_STEP)
    for (let swept = SWEEP_STEP; more && swept < SWEEP_SLICE && performance.now() < until; swept += SWEEP_STEP) {
      more = this.sweepDue(SWEEP_STEP)
    }
    if (more) this.#arm(0, 0)
    else this.#arm(this.#queue.peek(), SWEEP_MIN_DELAY)
  }
}
