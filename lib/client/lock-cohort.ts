import { DeadlineQueue, deadlineIn, type Timed } from '../deadlines'
import { SharedStateHostLostError, SharedStateLockNotHeldError, SharedStateLockTimeoutError } from '../errors'
import type { Encoded, LockWrite } from '../store/store'

/**
 * Sections one grant from the host covers: the worker passes the lock on to its own next acquirer
 * this many times at most before it goes back to the end of the host's queue. The fairness bound
 * the README documents.
 */
export const COHORT_TURNS = 16

/** What a cohort asks of the host: ProxyStore's calls, outside its count of mutations. */
export interface CohortHost {
  acquire: (name: string, timeout: number, deadline: number, turns: number, keys: readonly string[]) => Promise<[number, Array<Encoded | undefined>]>
  release: (name: string, token: number, writes: readonly LockWrite[]) => Promise<void>
  writeUnderLock: (name: string, token: number, writes: readonly LockWrite[]) => Promise<void>
  /** Mutations this worker sent other than through the lock: a change makes the values seen stale. */
  mutations: () => number
  /** False while the host is lost: a grant it may have dropped is passed on no further. */
  connected: () => boolean
}

export type Granted = [number, Array<Encoded | undefined>]

interface Waiter extends Timed {
  keys: readonly string[]
  timeout: number
  resolve: (granted: Granted) => void
  reject: (error: Error) => void
  /** Timed out: left in the queue, skipped when its turn comes (cheaper than splicing). */
  done: boolean
}

interface Grant {
  /** The token the host granted: the one it knows the grant by. */
  token: number
  /** The last token of the block the host reserved. */
  last: number
  /** The next token a hand-off in this worker gives out. */
  next: number
}

/**
 * One lock as one worker's acquirers share it (lock cohorting, Dice, Marathe and Shavit): a
 * worker holding a grant that has its own next acquirer waiting passes the lock on in-process,
 * with the next token of the block the host reserved, for up to COHORT_TURNS sections; then it
 * releases to the host and its next acquirer queues there behind the other workers. A hand-off
 * costs no message, or one note carrying the section's writes; the host keeps seeing the worker
 * as the holder, so isLocked, a dead worker's release and fencing stay the host's.
 *
 * Values a grant read (`read`) stay known across hand-offs, updated with the sections' own
 * writes: keys named in `read` are expected to be written only under this lock. Any other
 * mutation this worker sends makes them stale, and the next section that reads goes to the host.
 */
export class LockCohort {
  readonly #name: string
  readonly #host: CohortHost
  /** Called once the cohort holds nothing and waits for nothing: the store may forget it. */
  readonly #emptied: () => void
  #grant: Grant | undefined
  /** Token of the section running now. */
  #holder: number | undefined
  #queue: Waiter[] = []
  /** Index of the first waiter not yet served. */
  #head = 0
  /** Waiters in the queue that have not timed out. */
  #waiting = 0
  /** Waiters in the queue above, by deadline (the one asking the host is timed by the host). */
  readonly #timeouts = new DeadlineQueue<Waiter>((waiter) => this.#timedOut(waiter))
  #asking = false
  readonly #seen = new Map<string, Encoded | undefined>()
  #seenAt = -1
  #idle: NodeJS.Immediate | undefined
  /** The host changed: the grant may be gone, so no more hand-offs under it. */
  #stale = false
  /**
   * This worker acquired again as soon as a release to the host was answered: a loop, or
   * requests arriving back to back. Only then is a grant kept for a turn after a release that
   * found nobody waiting; otherwise the lock goes back at once, and isLocked elsewhere sees it free.
   */
  #hot = false
  /** Releases to the host not yet answered, or answered less than a turn ago. */
  #givingBack = 0
  #closed = false

  constructor (name: string, host: CohortHost, emptied: () => void) {
    this.#name = name
    this.#host = host
    this.#emptied = emptied
  }

  /** Whether `token` is of the block this worker holds now (released or not). */
  owns (token: number): boolean {
    return this.#grant !== undefined && token >= this.#grant.token && token <= this.#grant.last
  }

  acquire (keys: readonly string[], timeout: number): Promise<Granted> {
    if (this.#closed) return Promise.reject(new SharedStateHostLostError('this worker closed its shared state'))
    if (this.#givingBack > 0) this.#hot = true
    return new Promise((resolve, reject) => {
      const waiter: Waiter = { keys, timeout, deadline: deadlineIn(timeout), slot: -1, resolve, reject, done: false }
      this.#timeouts.add(waiter)
      this.#queue.push(waiter)
      this.#waiting++
      this.#pump()
    })
  }

  /** Ends the section `token`: to the worker's next acquirer, or back to the host. */
  release (token: number, writes: readonly LockWrite[]): Promise<void> {
    const grant = this.#grant
    if (grant === undefined || this.#holder !== token) {
      return Promise.reject(new SharedStateLockNotHeldError(this.#name, token))
    }
    this.#holder = undefined
    this.#remember(writes)
    const next = this.#first()
    if (next !== undefined && this.#canServe(grant, next)) {
      this.#take()
      const note = this.#note(grant, writes)
      this.#serve(next, grant.next++)
      return note
    }
    if (next === undefined && this.#hot && this.#canPassOn(grant)) {
      // Kept for this worker's next acquirer, which usually comes right after (a loop, queued
      // requests): until the writes are applied and the event loop went round once more.
      const note = this.#note(grant, writes)
      note.then(() => this.#idleSoon(), () => this.#idleSoon())
      return note
    }
    return this.#giveBack(writes)
  }

  /** The lock held, no section running: give it back now (isLocked asks right after). */
  settle (): void {
    if (this.#grant !== undefined && this.#holder === undefined && !this.#asking) this.#giveBack([]).catch(() => {})
  }

  /** A new host: the grant may not have survived; sections in flight finish, nobody else starts under it. */
  hostChanged (): void {
    this.#stale = true
    this.settle()
  }

  close (): void {
    this.#closed = true
    clearImmediate(this.#idle)
    this.#timeouts.clear()
    const waiters = this.#queue.slice(this.#head).filter((waiter) => !waiter.done)
    this.#queue = []
    this.#head = 0
    this.#waiting = 0
    for (const waiter of waiters) {
      waiter.reject(new SharedStateHostLostError('this worker closed its shared state'))
    }
  }

  #canPassOn (grant: Grant): boolean {
    return !this.#stale && !this.#closed && grant.next <= grant.last && this.#host.connected()
  }

  #canServe (grant: Grant, waiter: Waiter): boolean {
    if (!this.#canPassOn(grant)) return false
    if (waiter.keys.length === 0) return true
    return this.#seenAt === this.#host.mutations() && waiter.keys.every((key) => this.#seen.has(key))
  }

  #pump (): void {
    if (this.#holder !== undefined || this.#asking) return
    const first = this.#first()
    if (first === undefined) return
    const grant = this.#grant
    if (grant !== undefined) {
      if (this.#canServe(grant, first)) {
        this.#take()
        this.#serve(first, grant.next++)
        return
      }
      this.#giveBack([]).catch(() => {})
      return
    }
    this.#ask(first)
  }

  #serve (waiter: Waiter, token: number): void {
    this.#timeouts.remove(waiter)
    clearImmediate(this.#idle)
    this.#idle = undefined
    this.#holder = token
    waiter.resolve([token, waiter.keys.map((key) => this.#seen.get(key))])
  }

  /** The first waiter asks the host; the others wait here for it to pass the lock on. */
  #ask (waiter: Waiter): void {
    this.#take()
    this.#timeouts.remove(waiter)
    this.#asking = true
    const timeout = Math.max(0, waiter.deadline - Date.now())
    this.#host.acquire(this.#name, timeout, waiter.deadline, COHORT_TURNS, waiter.keys).then(([token, values]) => {
      this.#asking = false
      this.#grant = { token, last: token + COHORT_TURNS - 1, next: token + 1 }
      this.#stale = false
      this.#seen.clear()
      waiter.keys.forEach((key, index) => this.#seen.set(key, values[index]))
      this.#seenAt = this.#host.mutations()
      this.#holder = token
      waiter.resolve([token, values])
    }, (error: Error) => {
      this.#asking = false
      waiter.reject(error)
      this.#pump()
      this.#emptyCheck()
    })
  }

  /** What the next section will read: the values seen, with this section's writes. */
  #remember (writes: readonly LockWrite[]): void {
    if (this.#seenAt !== this.#host.mutations()) this.#seen.clear()
    // A key written with a ttl may expire before the next section: not worth remembering.
    for (const [key, value, ttl] of writes) {
      if (ttl === 0) this.#seen.set(key, value)
      else this.#seen.delete(key)
    }
    this.#seenAt = this.#host.mutations()
  }

  /** A section's writes, passed on in-process: they must reach the host before its release resolves. */
  #note (grant: Grant, writes: readonly LockWrite[]): Promise<void> {
    if (writes.length === 0) return Promise.resolve()
    const sent = this.#host.writeUnderLock(this.#name, grant.token, writes)
    // Refused: the grant is gone (a new host without it). Nobody else may start under it.
    sent.catch(() => { if (this.#grant === grant) this.#stale = true })
    return sent
  }

  #idleSoon (): void {
    if (this.#idle !== undefined) return
    this.#idle = setImmediate(() => {
      this.#idle = undefined
      if (this.#holder !== undefined || this.#waiting > 0) return
      // Nobody came: stop keeping grants until this worker shows it re-acquires at once again.
      this.#hot = false
      this.settle()
    })
  }

  #giveBack (writes: readonly LockWrite[]): Promise<void> {
    const grant = this.#grant as Grant
    this.#grant = undefined
    this.#seen.clear()
    clearImmediate(this.#idle)
    this.#idle = undefined
    const released = this.#host.release(this.#name, grant.token, writes)
    // An acquire that follows the answer (the caller awaited the release) shows a loop.
    this.#givingBack++
    const answered = (): void => {
      setImmediate(() => {
        this.#givingBack--
        if (this.#givingBack === 0 && this.#grant === undefined && !this.#asking && this.#waiting === 0) this.#hot = false
        this.#emptyCheck()
      })
    }
    released.then(answered, answered)
    // The next waiter queues at the host behind the release, on the same connection.
    this.#pump()
    this.#emptyCheck()
    return released
  }

  #timedOut (waiter: Waiter): void {
    waiter.done = true
    this.#waiting--
    waiter.reject(new SharedStateLockTimeoutError(this.#name, waiter.timeout))
    // Timed-out waiters outnumbering the live ones go at once, not when their turn comes.
    if (this.#queue.length - this.#head > 2 * this.#waiting + 64) this.#compact()
    this.#emptyCheck()
  }

  /** The first waiter still waiting, timed-out ones before it dropped. */
  #first (): Waiter | undefined {
    while (this.#head < this.#queue.length && (this.#queue[this.#head] as Waiter).done) this.#head++
    if (this.#head === this.#queue.length && this.#head > 0) this.#compact()
    return this.#queue[this.#head]
  }

  /** Takes the first waiter out of the queue (after #first found it). */
  #take (): void {
    this.#head++
    this.#waiting--
    if (this.#head > 1024 && this.#head * 2 > this.#queue.length) this.#compact()
  }

  #compact (): void {
    this.#queue = this.#queue.slice(this.#head).filter((waiter) => !waiter.done)
    this.#head = 0
  }

  #emptyCheck (): void {
    if (this.#grant === undefined && this.#holder === undefined && !this.#asking && this.#waiting === 0 &&
      !this.#hot && this.#givingBack === 0) this.#emptied()
  }
}
