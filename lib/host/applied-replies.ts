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
interface ClientReplies {
  readonly replies: Map<number, Reply>
  /** The highest id remembered: a request above it is new, and needs no lookup. */
  newest: number
}

export class AppliedReplies {
  readonly #window: number
  readonly #byClient = new Map<string, ClientReplies>()

  constructor (window = DEFAULT_WINDOW) {
    this.#window = window
  }

  get (clientId: string, id: number): Reply | undefined {
    const client = this.#byClient.get(clientId)
    // Ids grow with every call, so almost every mutation is above all that were remembered; only
    // a retry (after a change of host) is not. A lookup in a table of 20,000 replies misses the
    // CPU caches; this comparison does not.
    if (client === undefined || id > client.newest) return undefined
    return client.replies.get(id)
  }

  remember (clientId: string, id: number, reply: Reply): void {
    let client = this.#byClient.get(clientId)
    if (client === undefined) {
      client = { replies: new Map(), newest: 0 }
      this.#byClient.set(clientId, client)
    }
    client.replies.set(id, reply)
    if (id > client.newest) client.newest = id
    if (client.replies.size > this.#window) this.#evict(client.replies)
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
    for (const [clientId, { replies }] of this.#byClient) {
      for (const [id, reply] of replies) all.push([clientId, id, reply])
    }
    return all
  }
}
