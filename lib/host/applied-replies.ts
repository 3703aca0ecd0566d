/** A reply as the host sends it after the request id: ok with a value, or an error. */
export type Reply = readonly [status: 0, value: unknown] | readonly [status: 1, code: string, message: string]

// Far more ids than a worker ever has in flight: a retried mutation is always found, and memory
// stays bounded (about 0.5 MiB per worker that mutates) for a client that runs for months.
const DEFAULT_WINDOW = 2 ** 15

/**
 * One worker's replies in a ring indexed by request id: the reply to id n sits in slot n mod the
 * window until id n + window takes the slot. Ids grow by one per call, so the ring holds the
 * mutations among the worker's last `window` calls, with no eviction pass and no hash table: a
 * Map of 20,000 replies cost the host 8-10% of its time under load, in rehashes and cache misses.
 */
class ReplyRing {
  readonly #ids: Float64Array
  readonly #replies: Array<Reply | undefined>
  readonly #mask: number

  constructor (window: number) {
    this.#ids = new Float64Array(window)
    this.#replies = new Array<Reply | undefined>(window).fill(undefined)
    this.#mask = window - 1
  }

  get (id: number): Reply | undefined {
    const slot = id & this.#mask
    return this.#ids[slot] === id ? this.#replies[slot] : undefined
  }

  set (id: number, reply: Reply): void {
    const slot = id & this.#mask
    // An older id restored after a newer one of the same slot would evict the newer: keep it.
    if ((this.#ids[slot] as number) > id) return
    this.#ids[slot] = id
    this.#replies[slot] = reply
  }

  * entries (): Generator<[number, Reply]> {
    for (let slot = 0; slot < this.#ids.length; slot++) {
      const reply = this.#replies[slot]
      if (reply !== undefined) yield [this.#ids[slot] as number, reply]
    }
  }
}

/**
 * The replies to the mutations the host applied, by client and request id. A worker whose host
 * went away before answering sends the same request again, with the same id, to the next host;
 * this memory, handed over and persisted with the state, turns that retry into a replay of the
 * first answer instead of a second application.
 */
export class AppliedReplies {
  readonly #window: number
  readonly #byClient = new Map<string, ReplyRing>()

  /** `window`: how many of each worker's most recent request ids are covered; a power of two. */
  constructor (window = DEFAULT_WINDOW) {
    if (!Number.isInteger(Math.log2(window))) throw new RangeError(`the window must be a power of two, got ${window}`)
    this.#window = window
  }

  get (clientId: string, id: number): Reply | undefined {
    return this.#byClient.get(clientId)?.get(id)
  }

  remember (clientId: string, id: number, reply: Reply): void {
    let ring = this.#byClient.get(clientId)
    if (ring === undefined) {
      ring = new ReplyRing(this.#window)
      this.#byClient.set(clientId, ring)
    }
    ring.set(id, reply)
  }

  /** Forgets a client that has left for good. */
  forget (clientId: string): void {
    this.#byClient.delete(clientId)
  }

  entries (): Array<[string, number, Reply]> {
    const all: Array<[string, number, Reply]> = []
    for (const [clientId, ring] of this.#byClient) {
      for (const [id, reply] of ring.entries()) all.push([clientId, id, reply])
    }
    return all
  }
}
