/** A reply as the host sends it after the request id: ok with a value, or an error. */
export type Reply = readonly [status: 0, value: unknown] | readonly [status: 1, code: string, message: string]

// Far more than a worker ever has in flight: a retried mutation is always found, and memory stays
// bounded for a client that runs for months.
const DEFAULT_WINDOW = 20000

/**
 * The replies to the mutations the host applied, by client and request id. A worker whose host
 * went away before answering sends the same request again, with the same id, to the next host;
 * this memory, handed over and persisted with the state, turns that retry into a replay of the
 * first answer instead of a second application.
 */
export class AppliedReplies {
  readonly #window: number
  readonly #byClient = new Map<string, Map<number, Reply>>()

  constructor (window = DEFAULT_WINDOW) {
    this.#window = window
  }

  get (clientId: string, id: number): Reply | undefined {
    return this.#byClient.get(clientId)?.get(id)
  }

  remember (clientId: string, id: number, reply: Reply): void {
    let replies = this.#byClient.get(clientId)
    if (replies === undefined) {
      replies = new Map()
      this.#byClient.set(clientId, replies)
    }
    replies.set(id, reply)
    if (replies.size > this.#window) this.#evict(replies)
  }

  /**
   * Drops the oldest quarter in one pass. Deleting one oldest entry per insert would make V8 skip
   * an ever longer run of deleted slots to find the first live key: quadratic in the window.
   */
  #evict (replies: Map<number, Reply>): void {
    let excess = replies.size - Math.floor(this.#window * 0.75)
    for (const id of replies.keys()) {
      if (excess-- <= 0) break
      replies.delete(id)
    }
  }

  /** Forgets a client that has left for good. */
  forget (clientId: string): void {
    this.#byClient.delete(clientId)
  }

  entries (): Array<[string, number, Reply]> {
    const all: Array<[string, number, Reply]> = []
    for (const [clientId, replies] of this.#byClient) {
      for (const [id, reply] of replies) all.push([clientId, id, reply])
    }
    return all
  }
}
