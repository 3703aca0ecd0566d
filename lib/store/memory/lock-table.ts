import { DeadlineQueue, type Timed } from '../../deadlines'
import { SharedStateLockNotHeldError, SharedStateLockTimeoutError } from '../../errors'

/**
 * The host's named locks. Each lock has at most one holder and a first-come-first-served queue of
 * waiters. Owners are client ids, so a worker's locks can be dropped the moment its connection
 * closes. Tokens come from one counter for the whole table and only ever grow: a holder can pass
 * its token to whatever it protects, which then refuses writes carrying an older one (fencing).
 *
 * Nothing here outlives its use: a waiter leaves its queue the moment it times out or its
 * connection goes, and a lock nobody holds or waits for is forgotten; the one counter keeps its
 * next token above every earlier one all the same.
 */

export interface LockGrant {
  name: string
  owner: string
  token: number
}

/** A held lock as handed to the next host: its lease, if any, as ms left. */
export interface HeldLock extends LockGrant {
  leaseLeft: number
}

export interface AcquireContext {
  /**
   * Epoch ms at which the caller stops waiting, when it says (0: `timeout` from now). A request
   * sent again to a new host carries its first deadline, so it waits only what was left.
   */
  deadline?: number
  /** Whose request this is beyond the owner: the connection it came on (see dropWaits). */
  tag?: object
  /**
   * Tokens the grant reserves (1 when absent): the granted one and those after it, for hand-offs
   * the owner makes itself. Every later grant is above all of them.
   */
  turns?: number
}

interface LockState {
  name: string
  holder: Holder | undefined
  first: Waiter | undefined
  last: Waiter | undefined
  waiting: number
}

interface Holder extends Timed {
  owner: string
  token: number
  lock: LockState
}

interface Waiter extends Timed {
  owner: string
  tag: object | undefined
  ttl: number
  turns: number
  timeout: number
  lock: LockState
  prev: Waiter | undefined
  next: Waiter | undefined
  resolve: (token: number) => void
  reject: (error: Error) => void
}

export class LockTable {
  readonly #locks = new Map<string, LockState>()
  readonly #waitsOf = new Map<string, Set<Waiter>>()
  readonly #heldBy = new Map<string, Set<Holder>>()
  readonly #timeouts = new DeadlineQueue<Waiter>((waiter) => this.#timedOut(waiter))
  readonly #leases = new DeadlineQueue<Holder>((holder) => {
    // A holder that hangs loses the lock after its lease; its later release() finds another
    // token and is refused.
    if (holder.lock.holder === holder) this.#handOn(holder.lock)
  })

  #lastToken: number
  /** Acquires that had to queue, since this table was made. */
  waits = 0
  /** Grants to a waiter, since this table was made: a holder let go and the next one got the lock. */
  handOffs = 0
  /**
   * ms past a caller's deadline during which a free lock is still granted: the caller still waits
   * for the answer (its call times out this much later), so a host that read the request late (a
   * blocked event loop) does not refuse a lock nobody holds. After it, the grant would reach nobody.
   */
  grantGrace = 0
  /** Told of every grant's token, for the change log. */
  onGrant: ((name: string, token: number) => void) | undefined

  /** `tokenBase`: where the token counter starts, above what an earlier host may have granted. */
  constructor (tokenBase: () => number = () => 0) {
    this.#lastToken = tokenBase()
  }

  /** Lock names this table knows now: held or waited for. */
  get size (): number {
    return this.#locks.size
  }

  /**
   * Resolves with a token once `owner` holds the lock; rejects with LOCK_TIMEOUT once the wait
   * reaches its deadline (`timeout` ms from now unless the context says when).
   */
  acquire (name: string, owner: string, timeout: number, ttl: number, context: AcquireContext = {}): Promise<number> {
    const now = Date.now()
    const deadline = context.deadline !== undefined && context.deadline > 0 ? context.deadline : now + timeout
    const known = this.#locks.get(name)
    if (known === undefined || (known.holder === undefined && known.waiting === 0)) {
      if (now > deadline + this.grantGrace) return Promise.reject(new SharedStateLockTimeoutError(name, timeout))
      return Promise.resolve(this.#grant(known ?? this.#open(name), owner, ttl, context.turns ?? 1))
    }
    if (deadline <= now) return Promise.reject(new SharedStateLockTimeoutError(name, timeout))
    this.waits++
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        owner,
        tag: context.tag,
        ttl,
        turns: context.turns ?? 1,
        timeout,
        lock: known,
        prev: known.last,
        next: undefined,
        resolve,
        reject,
        deadline,
        slot: -1
      }
      if (known.last === undefined) known.first = waiter
      else known.last.next = waiter
      known.last = waiter
      known.waiting++
      let waits = this.#waitsOf.get(owner)
      if (waits === undefined) {
        waits = new Set()
        this.#waitsOf.set(owner, waits)
      }
      waits.add(waiter)
      this.#timeouts.add(waiter)
    })
  }

  release (name: string, owner: string, token: number): void {
    const state = this.#locks.get(name)
    const holder = state?.holder
    if (state === undefined || holder === undefined || holder.token !== token || holder.owner !== owner) {
      throw new SharedStateLockNotHeldError(name, token)
    }
    this.#handOn(state)
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
    this.dropWaits(owner, undefined, error)
    const held = this.#heldBy.get(owner)
    if (held === undefined) return
    for (const holder of [...held]) {
      if (holder.lock.holder === holder) this.#handOn(holder.lock)
    }
  }

  /**
   * Drops the waits of `owner` that came with `tag` (every wait of the owner when undefined): a
   * worker that reconnected under the same id sends what it still waits for again on its new
   * connection, so the old connection's waits must not be granted to nobody.
   */
  dropWaits (owner: string, tag?: object, error?: Error): void {
    const waits = this.#waitsOf.get(owner)
    if (waits === undefined) return
    let dropped: Waiter[]
    if (tag === undefined) {
      // All of them: the owner's set goes as a whole, not one delete per waiter.
      this.#waitsOf.delete(owner)
      dropped = [...waits]
    } else {
      dropped = [...waits].filter((waiter) => waiter.tag === tag)
      for (const waiter of dropped) waits.delete(waiter)
      if (waits.size === 0) this.#waitsOf.delete(owner)
    }
    this.#timeouts.removeAll(dropped, dropped.length)
    for (const waiter of dropped) {
      this.#unqueue(waiter)
      if (error !== undefined) waiter.reject(error)
    }
    for (const waiter of dropped) this.#forgetIfIdle(waiter.lock)
  }

  /** Highest token granted, for handover and persistence: one counter serves every lock. */
  tokens (): Array<[string, number]> {
    return [['', this.#lastToken]]
  }

  /** Raises the token counter so every later grant is above what a previous host granted. */
  restoreTokens (tokens: Iterable<readonly [string, number]>): void {
    for (const [, token] of tokens) this.#lastToken = Math.max(this.#lastToken, token)
  }

  /** Every lock that is held or waited for: holder, token and queue length. */
  describe (): Array<{ name: string, owner: string | null, token: number, waiting: number }> {
    const locks = []
    for (const [name, state] of this.#locks) {
      locks.push({ name, owner: state.holder?.owner ?? null, token: state.holder?.token ?? this.#lastToken, waiting: state.waiting })
    }
    return locks
  }

  /** Who holds what now, with the lease each has left. */
  held (): HeldLock[] {
    const now = Date.now()
    const held: HeldLock[] = []
    for (const [name, { holder }] of this.#locks) {
      if (holder === undefined) continue
      const leaseLeft = holder.slot < 0 ? 0 : Math.max(1, holder.deadline - now)
      held.push({ name, owner: holder.owner, token: holder.token, leaseLeft })
    }
    return held
  }

  /** Takes over the holders of a previous host (graceful handover): they keep their locks and tokens. */
  restoreHolders (held: Iterable<HeldLock>): void {
    for (const { name, owner, token, leaseLeft } of held) {
      const state = this.#locks.get(name) ?? this.#open(name)
      if (state.holder !== undefined) continue
      this.#lastToken = Math.max(this.#lastToken, token)
      this.#hold(state, owner, token, leaseLeft)
    }
  }

  waiting (name: string): number {
    return this.#locks.get(name)?.waiting ?? 0
  }

  /** Stops every timer; waiters are rejected with `error`. */
  close (error: Error): void {
    this.#timeouts.clear()
    this.#leases.clear()
    const waiters = [...this.#waitsOf.values()].flatMap((waits) => [...waits])
    this.#locks.clear()
    this.#waitsOf.clear()
    this.#heldBy.clear()
    for (const waiter of waiters) waiter.reject(error)
  }

  #open (name: string): LockState {
    const state: LockState = { name, holder: undefined, first: undefined, last: undefined, waiting: 0 }
    this.#locks.set(name, state)
    return state
  }

  #grant (state: LockState, owner: string, ttl: number, turns: number): number {
    const token = this.#lastToken + 1
    this.#lastToken += turns
    this.#hold(state, owner, token, ttl)
    // The highest token reserved, so a host that restores it grants above the whole block.
    this.onGrant?.(state.name, this.#lastToken)
    return token
  }

  #hold (state: LockState, owner: string, token: number, ttl: number): void {
    const holder: Holder = { owner, token, lock: state, deadline: 0, slot: -1 }
    state.holder = holder
    let held = this.#heldBy.get(owner)
    if (held === undefined) {
      held = new Set()
      this.#heldBy.set(owner, held)
    }
    held.add(holder)
    if (ttl > 0) {
      holder.deadline = Date.now() + ttl
      this.#leases.add(holder)
    }
  }

  /** Frees the lock and grants it to the first waiter; forgets the lock when nobody waits. */
  #handOn (state: LockState): void {
    const holder = state.holder
    if (holder !== undefined) {
      this.#leases.remove(holder)
      const held = this.#heldBy.get(holder.owner)
      held?.delete(holder)
      if (held?.size === 0) this.#heldBy.delete(holder.owner)
      state.holder = undefined
    }
    const waiter = state.first
    if (waiter === undefined) {
      this.#forgetIfIdle(state)
      return
    }
    this.#timeouts.remove(waiter)
    this.#unlink(waiter, false)
    this.handOffs++
    waiter.resolve(this.#grant(state, waiter.owner, waiter.ttl, waiter.turns))
  }

  #timedOut (waiter: Waiter): void {
    this.#unlink(waiter)
    waiter.reject(new SharedStateLockTimeoutError(waiter.lock.name, waiter.timeout))
  }

  /** Takes a waiter out of its queue and out of its owner's waits; `forget` an idle lock then. */
  #unlink (waiter: Waiter, forget = true): void {
    this.#unqueue(waiter)
    const waits = this.#waitsOf.get(waiter.owner)
    waits?.delete(waiter)
    if (waits?.size === 0) this.#waitsOf.delete(waiter.owner)
    if (forget) this.#forgetIfIdle(waiter.lock)
  }

  /** Takes a waiter out of its lock's queue. */
  #unqueue (waiter: Waiter): void {
    const state = waiter.lock
    if (waiter.prev === undefined) state.first = waiter.next
    else waiter.prev.next = waiter.next
    if (waiter.next === undefined) state.last = waiter.prev
    else waiter.next.prev = waiter.prev
    waiter.prev = undefined
    waiter.next = undefined
    state.waiting--
  }

  #forgetIfIdle (state: LockState): void {
    if (state.holder === undefined && state.waiting === 0 && this.#locks.get(state.name) === state) this.#locks.delete(state.name)
  }
}
