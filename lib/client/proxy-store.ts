import { setImmediate as nextTurn } from 'node:timers/promises'
import { deadlineIn } from '../deadlines'
import { opCode, OPS, PUSH_CHANGE, PUSH_OVERFLOW } from '../protocol/messages'
import type { HostDescription } from '../host/host-session'
import type { ChangeEvent, ChangeListener, Encoded, LockAcquireOptions, LockWrite, Path, Role, ScanPage, Store, StoreStats } from '../store/store'
import type { HostLink } from './host-link'
import { LockCohort, type CohortHost } from './lock-cohort'

const OP = {
  get: opCode('get'),
  set: opCode('set'),
  setIfAbsent: opCode('setIfAbsent'),
  has: opCode('has'),
  delete: opCode('delete'),
  keys: opCode('keys'),
  entries: opCode('entries'),
  size: opCode('size'),
  clear: opCode('clear'),
  incr: opCode('incr'),
  getVersioned: opCode('getVersioned'),
  setIfVersion: opCode('setIfVersion'),
  compareAndSet: opCode('compareAndSet'),
  getIn: opCode('getIn'),
  setIn: opCode('setIn'),
  deleteIn: opCode('deleteIn'),
  incrIn: opCode('incrIn'),
  push: opCode('push'),
  expire: opCode('expire'),
  ttl: opCode('ttl'),
  watchAs: opCode('watchAs'),
  unwatch: opCode('unwatch'),
  acquireLockUntil: opCode('acquireLockUntil'),
  releaseLock: opCode('releaseLock'),
  isLocked: opCode('isLocked'),
  stats: opCode('stats'),
  acquireLockReading: opCode('acquireLockReading'),
  releaseLockWriting: opCode('releaseLockWriting'),
  writeUnderLock: opCode('writeUnderLock'),
  scan: opCode('scan'),
  scanKeys: opCode('scanKeys')
} as const

// Whole-prefix reads ask for pages of this many items; the host caps a page by bytes too.
const KEYS_PAGE = 2000
const ENTRIES_PAGE = 1000
// A page's replies use at most this share of the frame limit, and no more than PAGE_MAX_BYTES:
// larger pages save little, and hold the host longer.
const PAGE_FRAME_SHARE = 0.25
const PAGE_MAX_BYTES = 1024 * 1024

const MUTATES = OPS.map((spec) => spec.mutates)

/** MessagePack has one nil; the store contract says `undefined` for "absent". */
function orUndefined<T> (value: unknown): T | undefined {
  return (value ?? undefined) as T | undefined
}

/** acquireLockReading's reply: [token, values], or the token alone when no keys were asked for. */
function granted (reply: unknown): [number, Array<Encoded | undefined>] {
  if (typeof reply === 'number') return [reply, []]
  const [token, values] = reply as [number, Array<Encoded | null>]
  return [token, values.map((value) => orUndefined<Encoded>(value))]
}

interface Subscription {
  prefix: string
  listener: ChangeListener
  watchId: number
  /** A re-watch that failed is tried again after this; cleared on unsubscribe. */
  retry: NodeJS.Timeout | undefined
}

/**
 * The Store contract as requests to the host, whichever worker hosts: every method is one call
 * on the HostLink, which reaches the host over a socket or, in the host's own worker, directly.
 */
export class ProxyStore implements Store {
  readonly #link: HostLink
  /** The per-call timeout; a lock wait gets this much on top of its own. */
  readonly #timeout: number
  /** By watch id: chosen here, so it stays the same across hosts. */
  readonly #subscriptions = new Map<number, Subscription>()
  /** The byte budget of one page: its reply must fit in this worker's frame limit. */
  readonly #pageBytes: number
  #nextWatchId = 1
  /** By lock name, while this worker's acquirers of that lock hold or wait for it. */
  readonly #cohorts = new Map<string, LockCohort>()
  readonly #cohortHost: CohortHost
  /** Mutating calls sent, other than a lock cohort's own. */
  #mutations = 0

  constructor (link: HostLink, timeout: number, maxFrameBytes = 16 * 1024 * 1024) {
    this.#link = link
    this.#timeout = timeout
    this.#pageBytes = Math.min(PAGE_MAX_BYTES, Math.floor(maxFrameBytes * PAGE_FRAME_SHARE))
    link.onPush = (message) => this.#pushed(message)
    link.onNewHost = () => {
      for (const cohort of this.#cohorts.values()) cohort.hostChanged()
      this.#resubscribe()
    }
    this.#cohortHost = {
      acquire: async (name, timeout, deadline, turns, keys) => {
        return granted(await link.call(OP.acquireLockReading, [name, timeout, 0, deadline, turns, keys],
          timeout + this.#timeout))
      },
      release: (name, token, writes) => (writes.length === 0
        ? link.call(OP.releaseLock, [name, token])
        : link.call(OP.releaseLockWriting, [name, token, writes])) as Promise<void>,
      writeUnderLock: (name, token, writes) => link.call(OP.writeUnderLock, [name, token, writes]) as Promise<void>,
      mutations: () => this.#mutations,
      connected: () => link.connected
    }
  }

  get role (): Role {
    return this.#link.role
  }

  #call<T> (op: number, ...args: unknown[]): Promise<T> {
    if (MUTATES[op] === true) this.#mutations++
    return this.#link.call(op, args) as Promise<T>
  }

  async get (key: string): Promise<Encoded | undefined> { return orUndefined(await this.#call(OP.get, key)) }
  set (key: string, value: Encoded, ttl: number): Promise<void> { return this.#call(OP.set, key, value, ttl) }
  setIfAbsent (key: string, value: Encoded, ttl: number): Promise<boolean> { return this.#call(OP.setIfAbsent, key, value, ttl) }
  has (key: string): Promise<boolean> { return this.#call(OP.has, key) }
  delete (key: string): Promise<boolean> { return this.#call(OP.delete, key) }
  keys (prefix: string): Promise<string[]> {
    return this.#walk((cursor) => this.#page<string>(OP.scanKeys, prefix, cursor, KEYS_PAGE))
  }

  entries (prefix: string): Promise<Array<[string, Encoded]>> {
    return this.#walk((cursor) => this.scan(prefix, cursor, ENTRIES_PAGE))
  }

  scan (prefix: string, cursor: string, count: number): Promise<ScanPage> {
    return this.#page(OP.scan, prefix, cursor, count)
  }

  size (): Promise<number> { return this.#call(OP.size) }
  clear (): Promise<void> { return this.#call(OP.clear) }
  incr (key: string, by: number, ttl: number): Promise<number> { return this.#call(OP.incr, key, by, ttl) }

  async getVersioned (key: string): Promise<[Encoded | undefined, number]> {
    const [value, version] = await this.#call<[Encoded | null, number]>(OP.getVersioned, key)
    return [orUndefined(value), version]
  }

  setIfVersion (key: string, value: Encoded, version: number): Promise<boolean> { return this.#call(OP.setIfVersion, key, value, version) }
  compareAndSet (key: string, expected: Encoded | null, next: Encoded): Promise<boolean> { return this.#call(OP.compareAndSet, key, expected, next) }

  async getIn (path: Path): Promise<Encoded | undefined> { return orUndefined(await this.#call(OP.getIn, path)) }
  setIn (path: Path, value: Encoded): Promise<void> { return this.#call(OP.setIn, path, value) }
  deleteIn (path: Path): Promise<boolean> { return this.#call(OP.deleteIn, path) }
  incrIn (path: Path, by: number): Promise<number> { return this.#call(OP.incrIn, path, by) }
  push (path: Path, items: Encoded[]): Promise<number> { return this.#call(OP.push, path, items) }

  expire (key: string, ttl: number): Promise<boolean> { return this.#call(OP.expire, key, ttl) }
  ttl (key: string): Promise<number> { return this.#call(OP.ttl, key) }

  /**
   * The watch is registered on the host before the call resolves, under an id chosen here, so an
   * event pushed right after it (a change this worker made before the reply came) finds its listener.
   */
  async watch (prefix: string, listener: ChangeListener): Promise<() => Promise<void>> {
    const subscription: Subscription = { prefix, listener, watchId: this.#nextWatchId++, retry: undefined }
    this.#subscriptions.set(subscription.watchId, subscription)
    try {
      await this.#call(OP.watchAs, prefix, subscription.watchId)
    } catch (error) {
      this.#subscriptions.delete(subscription.watchId)
      // The host may have registered it and answered too late: it must not go on pushing.
      this.#call(OP.unwatch, subscription.watchId).catch(() => {})
      throw error
    }
    return async () => {
      if (this.#subscriptions.get(subscription.watchId) !== subscription) return
      this.#subscriptions.delete(subscription.watchId)
      clearTimeout(subscription.retry)
      // Sent after any re-watch of it on the same connection, so the host applies it last.
      await this.#call(OP.unwatch, subscription.watchId)
    }
  }

  async acquireLock (name: string, options: LockAcquireOptions): Promise<number> {
    if (options.ttl > 0) {
      // A lease is the host's to time: such a holder is not passed on in-process.
      // The host grants nothing past the caller's deadline (beyond the call timeout it allows for
      // the answer's way back), and a resend to a new host carries the same deadline. The local
      // deadline only guards against a host that stops answering.
      const deadline = options.deadline ?? deadlineIn(options.timeout)
      return this.#link.call(OP.acquireLockUntil, [name, options.timeout, options.ttl, deadline],
        options.timeout + this.#timeout) as Promise<number>
    }
    const [token] = await this.#cohort(name).acquire([], options.timeout)
    return token
  }

  releaseLock (name: string, token: number): Promise<void> {
    const cohort = this.#cohorts.get(name)
    if (cohort?.owns(token) === true) return cohort.release(token, [])
    return this.#link.call(OP.releaseLock, [name, token]) as Promise<void>
  }

  isLocked (name: string): Promise<boolean> {
    // A grant kept for this worker's next acquirer is not held by anyone yet.
    this.#cohorts.get(name)?.settle()
    return this.#call(OP.isLocked, name)
  }

  async acquireLockReading (name: string, options: LockAcquireOptions, keys: readonly string[]): Promise<[number, Array<Encoded | undefined>]> {
    if (options.ttl === 0) return this.#cohort(name).acquire(keys, options.timeout)
    const deadline = options.deadline ?? deadlineIn(options.timeout)
    return granted(await this.#link.call(OP.acquireLockReading, [name, options.timeout, options.ttl, deadline, 1, keys],
      options.timeout + this.#timeout))
  }

  releaseLockWriting (name: string, token: number, writes: readonly LockWrite[]): Promise<void> {
    const cohort = this.#cohorts.get(name)
    if (cohort?.owns(token) === true) return cohort.release(token, writes)
    return this.#link.call(OP.releaseLockWriting, [name, token, writes]) as Promise<void>
  }

  #cohort (name: string): LockCohort {
    let cohort = this.#cohorts.get(name)
    if (cohort === undefined) {
      const created = new LockCohort(name, this.#cohortHost, () => {
        if (this.#cohorts.get(name) === created) this.#cohorts.delete(name)
      })
      cohort = created
      this.#cohorts.set(name, cohort)
    }
    return cohort
  }

  async stats (): Promise<StoreStats> {
    const host = await this.#call<HostDescription>(OP.stats)
    return {
      role: this.#link.role,
      host: { address: this.#link.where, pid: host.pid },
      workers: host.workers,
      keys: host.keys,
      opsPerSecond: host.opsPerSecond,
      locks: host.locks,
      failovers: this.#link.failovers,
      ...(host.persist === null || host.persist === undefined ? {} : { persist: host.persist })
    }
  }

  async close (): Promise<void> {
    for (const subscription of this.#subscriptions.values()) clearTimeout(subscription.retry)
    for (const cohort of this.#cohorts.values()) cohort.close()
    this.#cohorts.clear()
    this.#subscriptions.clear()
    await this.#link.close()
  }

  async #page<T> (op: number, prefix: string, cursor: string, count: number): Promise<[string, T[]]> {
    // The host's own worker reaches the engine without a socket, in microtasks: a turn of the
    // event loop between its pages lets every other worker's requests in.
    if (cursor !== '' && this.#link.role === 'host') await nextTurn()
    return await this.#call<[string, T[]]>(op, prefix, cursor, count, this.#pageBytes)
  }

  /** Every page of a walk, one after another, gathered. */
  async #walk<T> (page: (cursor: string) => Promise<[string, T[]]>): Promise<T[]> {
    const all: T[] = []
    let cursor = ''
    do {
      const [next, items] = await page(cursor)
      for (const item of items) all.push(item)
      cursor = next
    } while (cursor !== '')
    return all
  }

  /**
   * A new host knows nothing of the old one's watches: every watch is sent again, under its id,
   * and its listener hears `lost` once it is in force again, since changes made meanwhile were
   * not seen. A re-watch that fails is tried again; it never drops the others.
   */
  #resubscribe (): void {
    for (const subscription of this.#subscriptions.values()) this.#rewatch(subscription)
  }

  #rewatch (subscription: Subscription): void {
    clearTimeout(subscription.retry)
    subscription.retry = undefined
    const current = (): boolean => this.#subscriptions.get(subscription.watchId) === subscription
    this.#call(OP.watchAs, subscription.prefix, subscription.watchId).then(() => {
      if (current()) subscription.listener({ type: 'lost', key: subscription.prefix })
    }, () => {
      if (!current() || this.#link.closed) return
      subscription.retry = setTimeout(() => { if (current()) this.#rewatch(subscription) }, this.#timeout)
      subscription.retry.unref()
    })
  }

  #pushed (message: unknown[]): void {
    const subscription = this.#subscriptions.get(message[2] as number)
    if (subscription === undefined) return
    if (message[1] === PUSH_CHANGE) {
      const event: ChangeEvent = { type: message[3] as ChangeEvent['type'], key: message[4] as string }
      if (message[5] !== null && message[5] !== undefined) event.value = message[5] as Encoded
      subscription.listener(event)
    } else if (message[1] === PUSH_OVERFLOW) {
      this.#subscriptions.delete(subscription.watchId)
      subscription.listener({ type: 'overflow', key: subscription.prefix })
    }
  }
}
