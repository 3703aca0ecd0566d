import { SharedStateLockNotHeldError, SharedStateOptionsError } from '../errors'
import { MAX_MS } from '../deadlines'
import type { Encoded, LockWrite, Store } from '../store/store'

/** How a lock's handle turns values into the bytes the store moves, with the key for error messages. */
export interface LockValues {
  encode: (key: string, value: unknown) => Encoded
  decode: (raw: Encoded) => unknown
}

export interface LockHandle {
  /** Fencing token: strictly increasing for each grant of this lock. */
  readonly token: number
  /**
   * The value of a key named in the `read` option, as it was when the lock was granted (or as
   * this holder `set` it since); a fresh copy each call. Throws for a key neither read nor set.
   */
  get: <T = unknown>(key: string) => T | undefined
  /**
   * Writes `value` to `key` together with the release: applied in the same step as the release,
   * before the next holder is granted, and not at all if the lock was lost meanwhile (socket
   * mode). The value is encoded now; changing the object afterwards changes nothing.
   */
  set: (key: string, value: unknown, options?: { ttl?: number }) => void
  /**
   * Releases the lock, with the writes made through `set`; rejects with
   * `FST_SHARED_STATE_LOCK_NOT_HELD` if it was lost meanwhile.
   */
  release: () => Promise<void>
}

function writeTtl (value: unknown): number {
  if (value === undefined) return 0
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > MAX_MS) {
    throw new SharedStateOptionsError(`"ttl" must be an integer of ms from 0 to ${MAX_MS}, got ${String(value)}`)
  }
  return value
}

/** One grant: its token, the values it was granted with, and the writes that go with its release. */
export class GrantedLock implements LockHandle {
  readonly token: number
  readonly #name: string
  readonly #store: Store
  readonly #values: LockValues
  /** By key: what the grant read, then what this holder set (undefined: absent). */
  readonly #seen = new Map<string, Encoded | undefined>()
  readonly #writes = new Map<string, LockWrite>()
  #released = false

  constructor (store: Store, name: string, token: number, values: LockValues) {
    this.#store = store
    this.#name = name
    this.token = token
    this.#values = values
  }

  /** The grant's reads, key by key. */
  saw (keys: readonly string[], raws: ReadonlyArray<Encoded | undefined>): void {
    keys.forEach((key, index) => this.#seen.set(key, raws[index]))
  }

  get<T = unknown> (key: string): T | undefined {
    if (!this.#seen.has(key)) {
      throw new SharedStateOptionsError(`key "${key}" was not in the lock's "read" option (nor set under it)`)
    }
    const raw = this.#seen.get(key)
    return raw === undefined ? undefined : this.#values.decode(raw) as T
  }

  set (key: string, value: unknown, options?: { ttl?: number }): void {
    if (this.#released) throw new SharedStateLockNotHeldError(this.#name, this.token)
    if (typeof key !== 'string') throw new SharedStateOptionsError(`a key is a string, got ${typeof key}`)
    const raw = this.#values.encode(key, value)
    // A second set of the same key replaces the first: only the last one is sent.
    this.#writes.delete(key)
    this.#writes.set(key, [key, raw, writeTtl(options?.ttl)])
    this.#seen.set(key, raw)
  }

  release = (): Promise<void> => {
    this.#released = true
    if (this.#writes.size === 0) return this.#store.releaseLock(this.#name, this.token)
    const writes = [...this.#writes.values()]
    this.#writes.clear()
    return this.#store.releaseLockWriting(this.#name, this.token, writes)
  }

  /** Releases without the writes: the section failed, and half of its work must not land. */
  abandon (): Promise<void> {
    this.#writes.clear()
    return this.release()
  }
}
