import { DeadlineQueue, type Timed } from '../deadlines'

/** A reply as the host sends it after the request id: ok with a value, or an error. */
export type Reply = readonly [status: 0, value: unknown] | readonly [status: 1, code: string, message: string]

// Far more ids than a worker ever has in flight: a retried mutation is always found, and memory
// stays bounded (about 0.5 MiB for a worker whose recent mutations span the whole window).
const DEFAULT_WINDOW = 2 ** 15
// A ring starts this small and doubles only when a reply still inside the window would be
// overwritten: a worker that made a few mutations costs a few slots.
const FIRST_SLOTS = 16

/**
 * One worker's replies in a ring indexed by request id: the reply to id n sits in slot n mod the
 * ring's size. Ids grow by one per call, so the ring holds the mutations among the worker's last
 * `window` calls, with no eviction pass and no hash table: a Map of 20,000 replies cost the host
 * 8-10% of its time under load, in rehashes and cache misses. The ring grows (up to `window`
 * slots) when a slot is wanted by two ids inside the window.
 */
class ReplyRing {
  readonly #window: number
  #ids: Float64Array
  #replies: Array<Reply | undefined>
  #mask: number
  /** The worker will never send an id below this again (see `settle`). */
  #settledBelow = 0

  constructor (window: number) {
    this.#window = window
    const slots = Math.min(FIRST_SLOTS, window)
    this.#ids = new Float64Array(slots)
    this.#replies = new Array<Reply | undefined>(slots).fill(undefined)
    this.#mask = slots - 1
  }

  get (id: number): Reply | undefined {
    const slot = id & this.#mask
    return this.#ids[slot] === id ? this.#replies[slot] : undefined
  }

  set (id: number, reply: Reply): void {
    let slot = id & this.#mask
    let held = this.#ids[slot] as number
    while (held !== 0 && held !== id && Math.abs(id - held) < this.#window && this.#ids.length < this.#window) {
      this.#grow()
      slot = id & this.#mask
      held = this.#ids[slot] as number
    }
    // An older id restored after a newer one of the same slot would evict the newer: keep it.
    if (held > id) return
    this.#ids[slot] = id
    this.#replies[slot] = reply
  }

  /** The worker said it will never send an id below `id` again. */
  settle (id: number): void {
    if (id > this.#settledBelow) this.#settledBelow = id
  }

  /**
   * The replies a retry may still ask for, slot by slot (copies: the ring may grow while they are
   * read): the whole ring, or only the ids the worker has not settled.
   */
  copy (): { ids: Float64Array, replies: Array<Reply | undefined> } {
    const below = this.#settledBelow
    if (below === 0) return { ids: this.#ids.slice(), replies: this.#replies.slice() }
    const ids: number[] = []
    const replies: Array<Reply | undefined> = []
    for (let slot = 0; slot < this.#ids.length; slot++) {
      const id = this.#ids[slot] as number
      if (id < below) continue
      ids.push(id)
      replies.push(this.#replies[slot])
    }
    return { ids: Float64Array.from(ids), replies }
  }

  * entries (): Generator<[number, Reply]> {
    for (let slot = 0; slot < this.#ids.length; slot++) {
      const reply = this.#replies[slot]
      const id = this.#ids[slot] as number
      if (reply !== undefined && id >= this.#settledBelow) yield [id, reply]
    }
  }

  /** Doubles the ring; two ids that share a slot after it shared one before, so none is lost. */
  #grow (): void {
    const ids = this.#ids
    const replies = this.#replies
    const slots = ids.length * 2
    this.#ids = new Float64Array(slots)
    this.#replies = new Array<Reply | undefined>(slots).fill(undefined)
    this.#mask = slots - 1
    for (let slot = 0; slot < ids.length; slot++) {
      const id = ids[slot] as number
      if (id === 0) continue
      this.#ids[id & this.#mask] = id
      this.#replies[id & this.#mask] = replies[slot]
    }
  }
}

/**
 * One client's replies as they stood, slot by slot: slot n holds the reply to request ids[n], or
 * nothing when ids[n] is 0. Read without a tuple per reply (a snapshot for the change log frames
 * a hundred thousand of them).
 */
export interface ReplySlots {
  readonly clientId: string
  readonly ids: Float64Array
  readonly replies: ReadonlyArray<Reply | undefined>
}

interface Absence extends Timed {
  clientId: string
}

/**
 * The replies to the mutations the host applied, by client and request id. A worker whose host
 * went away before answering sends the same request again, with the same id, to the next host;
 * this memory, handed over and persisted with the state, turns that retry into a replay of the
 * first answer instead of a second application.
 *
 * A worker that left without a goodbye (killed, crashed) is forgotten after a grace period: a
 * worker resends only calls still inside its own timeout, so a grace of a few timeouts keeps
 * every retry exactly-once, and a crash-looping worker cannot grow the host without bound.
 */
export class AppliedReplies {
  readonly #window: number
  readonly #byClient = new Map<string, ReplyRing>()
  readonly #absent = new Map<string, Absence>()
  readonly #forgetting = new DeadlineQueue<Absence>((absence) => {
    this.#absent.delete(absence.clientId)
    this.#byClient.delete(absence.clientId)
  })

  /** `window`: how many of each worker's most recent request ids are covered; a power of two. */
  constructor (window = DEFAULT_WINDOW) {
    if (!Number.isInteger(Math.log2(window))) throw new RangeError(`the window must be a power of two, got ${window}`)
    this.#window = window
  }

  /** Clients with replies kept. */
  get size (): number {
    return this.#byClient.size
  }

  /** True while replies of the client are kept (it is connected, or gone for less than the grace). */
  has (clientId: string): boolean {
    return this.#byClient.has(clientId)
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

  /**
   * The client will never send an id below `id` again: each call below it was answered or given
   * up. Its replies stay (a lookup costs nothing more), but snapshots and handovers leave them out.
   */
  settle (clientId: string, id: number): void {
    this.#byClient.get(clientId)?.settle(id)
  }

  /** Forgets a client that has left for good. */
  forget (clientId: string): void {
    this.back(clientId)
    this.#byClient.delete(clientId)
  }

  /** The client's connection is gone: its replies go after `grace` ms unless it comes back. */
  away (clientId: string, grace: number): void {
    if (!this.#byClient.has(clientId) || this.#absent.has(clientId)) return
    const absence: Absence = { clientId, deadline: Date.now() + grace, slot: -1 }
    this.#absent.set(clientId, absence)
    this.#forgetting.add(absence)
  }

  /** The client is connected again: its replies stay. */
  back (clientId: string): void {
    const absence = this.#absent.get(clientId)
    if (absence === undefined) return
    this.#absent.delete(clientId)
    this.#forgetting.remove(absence)
  }

  /** Every client with replies kept, connected or not. */
  clients (): string[] {
    return [...this.#byClient.keys()]
  }

  entries (): Array<[string, number, Reply]> {
    const all: Array<[string, number, Reply]> = []
    for (const [clientId, ring] of this.#byClient) {
      for (const [id, reply] of ring.entries()) all.push([clientId, id, reply])
    }
    return all
  }

  /** Every client's replies as they stand now, as copies a caller can read a part at a time. */
  slots (): ReplySlots[] {
    const all: ReplySlots[] = []
    for (const [clientId, ring] of this.#byClient) all.push({ clientId, ...ring.copy() })
    return all
  }

  close (): void {
    this.#forgetting.clear()
    this.#absent.clear()
  }
}
