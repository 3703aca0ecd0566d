import { SharedStateOptionsError } from '../errors'
import { MAX_MS } from '../deadlines'
import type { Store } from '../store/store'
import { GrantedLock, type LockHandle, type LockValues } from './lock-handle'

export type { LockHandle } from './lock-handle'

export interface LockOptions {
  /** ms to wait for the lock before `FST_SHARED_STATE_LOCK_TIMEOUT`; defaults to the plugin's `timeout`. */
  timeout?: number
  /** ms after which a holder that has not released loses the lock; 0 (default) = until released. */
  ttl?: number
  /**
   * Keys whose values come with the grant, read once the lock is held: `handle.get(key)` answers
   * them without a call of its own. Together with `handle.set`, whose writes travel with the
   * release, a read-modify-write section costs one request for the grant and one for the release.
   */
  read?: readonly string[]
}

function lockOption (name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > MAX_MS) {
    throw new SharedStateOptionsError(`lock option "${name}" must be an integer of ms from 0 to ${MAX_MS}, got ${String(value)}`)
  }
  return value
}

function readOption (value: unknown): readonly string[] {
  if (value === undefined) return []
  if (!Array.isArray(value) || !value.every((key) => typeof key === 'string')) {
    throw new SharedStateOptionsError(`lock option "read" must be an array of keys, got ${String(value)}`)
  }
  // A copy: the host reads the keys when it grants, which may be long after this call.
  return [...value]
}

/** A named lock shared by every worker: `app.sharedLock`, or `app.shared.lock(name)`. */
export class SharedLock {
  readonly name: string
  readonly #store: Store
  readonly #defaultTimeout: number
  readonly #values: LockValues

  constructor (store: Store, name: string, defaultTimeout: number, values: LockValues) {
    this.#store = store
    this.name = name
    this.#defaultTimeout = defaultTimeout
    this.#values = values
  }

  /**
   * Waits its turn and resolves with a handle once this caller holds the lock. Turns are first come,
   * first served, except that a worker holding the lock may first pass it to its own waiting
   * acquirers, for a bounded number of sections (README: the fairness bound).
   */
  async acquire (options: LockOptions = {}): Promise<LockHandle> {
    const timeout = lockOption('timeout', options.timeout, this.#defaultTimeout)
    const ttl = lockOption('ttl', options.ttl, 0)
    const read = readOption(options.read)
    if (read.length === 0) {
      const token = await this.#store.acquireLock(this.name, { timeout, ttl })
      return new GrantedLock(this.#store, this.name, token, this.#values)
    }
    const [token, raws] = await this.#store.acquireLockReading(this.name, { timeout, ttl }, read)
    const handle = new GrantedLock(this.#store, this.name, token, this.#values)
    handle.saw(read, raws)
    return handle
  }

  /**
   * Runs `fn` holding the lock and releases it however `fn` ends. When `fn` succeeds but the lock
   * was lost meanwhile (its ttl ran out), the release's LOCK_NOT_HELD rejects: the work was not
   * protected. When `fn` throws, its error wins, and what it `set` on the handle is not written.
   */
  async withLock<T> (fn: (handle: LockHandle) => T | Promise<T>, options?: LockOptions): Promise<T> {
    const handle = await this.acquire(options) as GrantedLock
    let result: T
    try {
      result = await fn(handle)
    } catch (error) {
      await handle.abandon().catch(() => {})
      throw error
    }
    await handle.release()
    return result
  }

  /** Whether anyone holds the lock now. */
  isLocked (): Promise<boolean> {
    return this.#store.isLocked(this.name)
  }
}
