import { SharedStateOptionsError } from '../errors'
import { MAX_MS } from '../deadlines'
import type { Store } from '../store/store'

export interface LockOptions {
  /** ms to wait for the lock before `FST_SHARED_STATE_LOCK_TIMEOUT`; defaults to the plugin's `timeout`. */
  timeout?: number
  /** ms after which a holder that has not released loses the lock; 0 (default) = until released. */
  ttl?: number
}

export interface LockHandle {
  /** Fencing token: strictly increasing for each grant of this lock. */
  readonly token: number
  /** Releases the lock; rejects with `FST_SHARED_STATE_LOCK_NOT_HELD` if it was lost meanwhile. */
  release: () => Promise<void>
}

function lockOption (name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > MAX_MS) {
    throw new SharedStateOptionsError(`lock option "${name}" must be an integer of ms from 0 to ${MAX_MS}, got ${String(value)}`)
  }
  return value
}

/** A named lock shared by every worker: `app.sharedLock`, or `app.shared.lock(name)`. */
export class SharedLock {
  readonly name: string
  readonly #store: Store
  readonly #defaultTimeout: number

  constructor (store: Store, name: string, defaultTimeout: number) {
    this.#store = store
    this.name = name
    this.#defaultTimeout = defaultTimeout
  }

  /** Waits its turn (first come, first served) and resolves with a handle once this caller holds the lock. */
  async acquire (options: LockOptions = {}): Promise<LockHandle> {
    const timeout = lockOption('timeout', options.timeout, this.#defaultTimeout)
    const ttl = lockOption('ttl', options.ttl, 0)
    const token = await this.#store.acquireLock(this.name, { timeout, ttl })
    const store = this.#store
    const name = this.name
    return Object.freeze({ token, release: () => store.releaseLock(name, token) })
  }

  /**
   * Runs `fn` holding the lock and releases it however `fn` ends. When `fn` succeeds but the lock
   * was lost meanwhile (its ttl ran out), the release's LOCK_NOT_HELD rejects: the work was not
   * protected. When `fn` throws, its error wins.
   */
  async withLock<T> (fn: (handle: LockHandle) => T | Promise<T>, options?: LockOptions): Promise<T> {
    const handle = await this.acquire(options)
    let result: T
    try {
      result = await fn(handle)
    } catch (error) {
      await handle.release().catch(() => {})
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
