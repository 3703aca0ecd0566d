import { SharedStateTimeoutError } from '../errors'

interface PendingCall {
  resolve: (value: unknown) => void
  reject: (error: Error) => void
  deadline: number
  op: string
  timeout: number
}

/**
 * Calls sent and not yet answered, by request id. Deadlines are checked by one sweeping timer for
 * the whole table instead of a timer per call: a call costs a Map entry, not a timer, and a
 * timeout fires within one sweep period of its deadline.
 */
export class PendingCalls {
  readonly #calls = new Map<number, PendingCall>()
  readonly #sweepEvery: number
  #timer: NodeJS.Timeout | undefined

  constructor (sweepEvery: number) {
    this.#sweepEvery = sweepEvery
  }

  get size (): number {
    return this.#calls.size
  }

  add (id: number, op: string, timeout: number, resolve: PendingCall['resolve'], reject: PendingCall['reject']): void {
    this.#calls.set(id, { resolve, reject, deadline: Date.now() + timeout, op, timeout })
    if (this.#timer === undefined) {
      this.#timer = setInterval(() => this.#sweep(), this.#sweepEvery)
      this.#timer.unref()
    }
  }

  /** Takes the call out of the table; undefined when it already timed out. */
  take (id: number): PendingCall | undefined {
    const call = this.#calls.get(id)
    // The sweep stops itself once it finds the table empty, so back-to-back calls do not start
    // and stop a timer each.
    if (call !== undefined) this.#calls.delete(id)
    return call
  }

  ids (): IterableIterator<number> {
    return this.#calls.keys()
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
        call.reject(new SharedStateTimeoutError(call.op, call.timeout))
      }
    }
    if (this.#calls.size === 0) this.#stop()
  }

  #stop (): void {
    clearInterval(this.#timer)
    this.#timer = undefined
  }
}
