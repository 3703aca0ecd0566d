interface Waiter {
  readonly seq: number
  readonly promise: Promise<void>
  readonly resolve: () => void
  readonly reject: (error: Error) => void
}

/**
 * Promises waiting for a record number to become durable. Records are numbered in append order
 * and become durable in that order, so the waiters form a queue settled from the front; every
 * `durable()` call of one turn waits for the same number and shares one promise.
 */
export class DurabilityWaiters {
  #queue: Waiter[] = []

  waitFor (seq: number): Promise<void> {
    const last = this.#queue.at(-1)
    if (last?.seq === seq) return last.promise
    let resolve!: () => void
    let reject!: (error: Error) => void
    const promise = new Promise<void>((_resolve, _reject) => {
      resolve = _resolve
      reject = _reject
    })
    this.#queue.push({ seq, promise, resolve, reject })
    return promise
  }

  /** Resolves every waiter for a record numbered `seq` or lower. */
  settle (seq: number): void {
    let count = 0
    while (count < this.#queue.length && (this.#queue[count] as Waiter).seq <= seq) count++
    if (count === 0) return
    for (const waiter of this.#queue.splice(0, count)) waiter.resolve()
  }

  rejectAll (error: Error): void {
    const queue = this.#queue
    this.#queue = []
    for (const waiter of queue) waiter.reject(error)
  }
}
