export interface PendingCall {
  readonly op: number
  readonly args: unknown[]
  readonly deadline: number
  readonly timeout: number
  readonly resolve: (value: unknown) => void
  readonly reject: (error: Error) => void
}

/**
 * Calls sent and not yet answered, by request id, kept with their arguments so they can be sent
 * again to the next host. Deadlines are checked by one sweeping timer for the whole table instead
 * of a timer per call: a call costs a Map entry, not a timer, and a timeout fires within one
 * sweep period of its deadline.
 */
export class PendingCalls {
  readonly #calls = new Map<number, PendingCall>()
  readonly #sweepEvery: number
  readonly #expired: (call: PendingCall, id: number) => Error
  #timer: NodeJS.Timeout | undefined

  /** `expired` builds the error a call whose deadline passed rejects with; it is given the call's id. */
  constructor (sweepEvery: number, expired: (call: PendingCall, id: number) => Error) {
    this.#sweepEvery = sweepEvery
    this.#expired = expired
  }

  get size (): number {
    return this.#calls.size
  }

  add (id: number, call: PendingCall): void {
    this.#calls.set(id, call)
    if (this.#timer === undefined) {
      this.#timer = setInterval(() => this.#sweep(), this.#sweepEvery)
      this.#timer.unref()
    }
  }

  /** Takes the call out of the table; undefined when it already timed out. */
  take (id: number): PendingCall | undefined {
    // The sweep stops itself once it finds the table empty, so back-to-back calls do not start
    // and stop a timer each.
    const call = this.#calls.get(id)
    if (call !== undefined) this.#calls.delete(id)
    return call
  }

  /** The id of the oldest call still waiting, or undefined when none waits. */
  oldestId (): number | undefined {
    return this.#calls.keys().next().value
  }

  /** Every call still waiting, oldest first (ids grow, and Maps keep insertion order). */
  entries (): IterableIterator<[number, PendingCall]> {
    return this.#calls.entries()
  }

  rejectAll (error: Error): void {
    const calls = [...this.#calls.values()]
    this.#calls.clear()
    this.#stop()
    for (const call of calls) call.reject(error)
  }

  #sweep (): void {
    const now = Date.now()
    for (const [id, call] of this.#calls) {
      if (call.deadline <= now) {
        this.#calls.delete(id)
        call.reject(this.#expired(call, id))
      }
    }
    if (this.#calls.size === 0) this.#stop()
  }

  #stop (): void {
    clearInterval(this.#timer)
    this.#timer = undefined
  }
}
