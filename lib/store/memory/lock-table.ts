import { SharedStateLockNotHeldError, SharedStateLockTimeoutError } from '../../errors'

/**
 * The host's named locks. Each lock has at most one holder and a first-come-first-served queue of
 * waiters. Owners are client ids, so a worker's locks can be dropped the moment its connection
 * closes. Tokens count grants per lock and only ever grow: a holder can pass its token to whatever
 * it protects, which then refuses writes carrying an older one (fencing).
 */

// Node fires a longer timer after 1 ms; a wait or lease is capped at this (about 24.8 days).
const MAX_TIMER_MS = 2 ** 31 - 1

export interface LockGrant {
  name: string
  owner: string
  token: number
}

/** A held lock as handed to the next host: its lease, if any, as ms left. */
export interface HeldLock extends LockGrant {
  leaseLeft: number
}

interface Holder {
  owner: string
  token: number
  lease: NodeJS.Timeout | undefined
  /** Epoch ms when the lease ends, or 0. */
  leaseEnds: number
}

interface Waiter {
  owner: string
  ttl: number
  turns: number
  resolve: (token: number) => void
  reject: (error: Error) => void
  timer: NodeJS.Timeout | undefined
  done: boolean
}

interface LockState {
  holder: Holder | undefined
  queue: Waiter[]
  /** Index of the first waiter not yet served; the queue is compacted when it drains. */
  head: number
  lastToken: number
}

export class LockTable {
  readonly #locks = new Map<string, LockState>()
  readonly #tokenBase: () => number
  /** Acquires that had to queue, since this table was made. */
  waits = 0
  /** Grants to a waiter, since this table was made: a holder let go and the next one got the lock. */
  handOffs = 0
  /** Told of every grant's token, for the change log. */
  onGrant: ((name: string, token: number) => void) | undefined

  /** `tokenBase`: where a lock this table has never seen starts counting. */
  constructor (tokenBase: () => number = () => 0) {
    this.#tokenBase = tokenBase
  }

  #state (name: string): LockState {
    let state = this.#locks.get(name)
    if (state === undefined) {
      state = { holder: undefined, queue: [], head: 0, lastToken: this.#tokenBase() }
      this.#locks.set(name, state)
    }
    return state
  }

  /**
   * Resolves with a token once `owner` holds the lock; rejects with LOCK_TIMEOUT after `timeout` ms.
   * `turns` > 1 reserves that many tokens (the granted one and those after it) for hand-offs the
   * owner makes itself: the next grant of the lock is above all of them.
   */
  acquire (name: string, owner: string, timeout: number, ttl: number, turns = 1): Promise<number> {
    const state = this.#state(name)
    if (state.holder === undefined && state.head === state.queue.length) {
      return Promise.resolve(this.#grant(name, state, owner, ttl, turns))
    }
    this.waits++
    return new Promise((resolve, reject) => {
      const waiter: Waiter = { owner, ttl, turns, resolve, reject, timer: undefined, done: false }
      waiter.timer = setTimeout(() => {
        // The waiter stays in the array, marked done; granting skips it. Cheaper than splicing.
        waiter.done = true
        reject(new SharedStateLockTimeoutError(name, timeout))
      }, Math.min(timeout, MAX_TIMER_MS))
      state.queue.push(waiter)
    })
  }

  release (name: string, owner: string, token: number): void {
    const state = this.#locks.get(name)
    const holder = state?.holder
    if (state === undefined || holder === undefined || holder.token !== token || holder.owner !== owner) {
      throw new SharedStateLockNotHeldError(name, token)
    }
    this.#handOn(name, state)
  }

  isLocked (name: string): boolean {
    return this.#locks.get(name)?.holder !== undefined
  }

  /** Whether `owner` holds the lock under the grant `token`. */
  holds (name: string, owner: string, token: number): boolean {
    const holder = this.#locks.get(name)?.holder
    return holder !== undefined && holder.owner === owner && holder.token === token
  }

  /**
   * The owner is gone: its locks pass to the next waiter and its own waits leave the queue, never
   * to be granted. A closed connection has nobody to answer (no `error`); a closing local store does.
   */
  dropOwner (owner: string, error?: Error): void {
    for (const [name, state] of this.#locks) {
      for (let i = state.head; i < state.queue.length; i++) {
        const waiter = state.queue[i] as Waiter
        if (waiter.owner === owner && !waiter.done) this.#settle(waiter, error)
      }
      if (state.holder?.owner === owner) this.#handOn(name, state)
    }
  }

  /** Highest token granted per lock, for handover and persistence. */
  tokens (): Array<[string, number]> {
    return [...this.#locks].map(([name, state]) => [name, state.lastToken])
  }

  /** Raises token counters so every later grant is above what a previous host granted. */
  restoreTokens (tokens: Iterable<readonly [string, number]>): void {
    for (const [name, token] of tokens) {
      const state = this.#state(name)
      state.lastToken = Math.max(state.lastToken, token)
    }
  }

  /** Every lock that is held or waited for: holder, token and queue length. */
  describe (): Array<{ name: string, owner: string | null, token: number, waiting: number }> {
    const locks = []
    for (const [name, state] of this.#locks) {
      const waiting = this.waiting(name)
      if (state.holder === undefined && waiting === 0) continue
      locks.push({ name, owner: state.holder?.owner ?? null, token: state.holder?.token ?? state.lastToken, waiting })
    }
    return locks
  }

  /** Who holds what now, with the lease each has left. */
  held (): HeldLock[] {
    const now = Date.now()
    const held: HeldLock[] = []
    for (const [name, { holder }] of this.#locks) {
      if (holder === undefined) continue
      held.push({ name, owner: holder.owner, token: holder.token, leaseLeft: holder.leaseEnds === 0 ? 0 : Math.max(1, holder.leaseEnds - now) })
    }
    return held
  }

  /** Takes over the holders of a previous host (graceful handover): they keep their locks and tokens. */
  restoreHolders (held: Iterable<HeldLock>): void {
    for (const { name, owner, token, leaseLeft } of held) {
      const state = this.#state(name)
      if (state.holder !== undefined) continue
      state.lastToken = Math.max(state.lastToken, token)
      this.#hold(name, state, owner, token, leaseLeft)
    }
  }

  waiting (name: string): number {
    const state = this.#locks.get(name)
    if (state === undefined) return 0
    let count = 0
    for (let i = state.head; i < state.queue.length; i++) if (!(state.queue[i] as Waiter).done) count++
    return count
  }

  /** Stops every timer; waiters are rejected with `error`. */
  close (error: Error): void {
    for (const state of this.#locks.values()) {
      if (state.holder?.lease !== undefined) clearTimeout(state.holder.lease)
      for (let i = state.head; i < state.queue.length; i++) {
        const waiter = state.queue[i] as Waiter
        if (!waiter.done) this.#settle(waiter, error)
      }
      state.holder = undefined
      state.queue = []
      state.head = 0
    }
  }

  #grant (name: string, state: LockState, owner: string, ttl: number, turns: number): number {
    const token = state.lastToken + 1
    state.lastToken += turns
    this.#hold(name, state, owner, token, ttl)
    // The highest token reserved, so a host that restores it grants above the whole block.
    this.onGrant?.(name, state.lastToken)
    return token
  }

  #hold (name: string, state: LockState, owner: string, token: number, ttl: number): void {
    const holder: Holder = { owner, token, lease: undefined, leaseEnds: 0 }
    if (ttl > 0) {
      // A holder that hangs loses the lock after its lease; its later release() finds another
      // token and is refused.
      holder.leaseEnds = Date.now() + ttl
      holder.lease = setTimeout(() => {
        if (state.holder === holder) this.#handOn(name, state)
      }, Math.min(ttl, MAX_TIMER_MS))
    }
    state.holder = holder
  }

  /** Frees the lock and grants it to the first waiter still waiting. */
  #handOn (name: string, state: LockState): void {
    if (state.holder?.lease !== undefined) clearTimeout(state.holder.lease)
    state.holder = undefined
    while (state.head < state.queue.length) {
      const waiter = state.queue[state.head] as Waiter
      state.queue[state.head++] = undefined as unknown as Waiter
      if (waiter.done) continue
      waiter.done = true
      clearTimeout(waiter.timer)
      this.handOffs++
      waiter.resolve(this.#grant(name, state, waiter.owner, waiter.ttl, waiter.turns))
      break
    }
    if (state.head === state.queue.length) {
      state.queue = []
      state.head = 0
    }
  }

  #settle (waiter: Waiter, error?: Error): void {
    waiter.done = true
    clearTimeout(waiter.timer)
    if (error !== undefined) waiter.reject(error)
  }
}
