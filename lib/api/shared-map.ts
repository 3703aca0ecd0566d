import { setImmediate as nextTurn } from 'node:timers/promises'
import {
  SharedStateBadPathError, SharedStateConflictError, SharedStateOptionsError, SharedStateUnsupportedValueError
} from '../errors'
import { UnsupportedValue, type ValueCodec } from '../protocol/codec'
import { MAX_MS } from '../deadlines'
import { validatePath } from '../store/path'
import type { ChangeEvent, Encoded, Path, Role, Store, StoreStats } from '../store/store'
import type { LockValues } from './lock-handle'
import { SharedLock } from './shared-lock'

export interface SetOptions {
  /** ms until the key disappears; omitted or 0: no expiry. */
  ttl?: number
}

export interface UpdateOptions {
  /** How many times `fn` runs again after another writer won the race. @default 100 */
  retries?: number
}

export interface ScanOptions {
  /** Entries per page: every page but the last holds this many. @default 100 */
  count?: number
}

export interface SharedChangeEvent<T = unknown> {
  type: ChangeEvent['type']
  key: string
  value?: T
}

export type Unsubscribe = () => Promise<void>

const DEFAULT_RETRIES = 100
const DEFAULT_SCAN_COUNT = 100
// `entries` decodes values for about this long a turn, reading the clock every DECODED_PER_CLOCK.
const DECODE_SLICE_MS = 2
const DECODED_PER_CLOCK = 256

function checkKey (key: unknown): string {
  if (typeof key !== 'string') throw new SharedStateBadPathError(`a key is a string, got ${typeof key}`)
  return key
}

function checkNumber (what: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new SharedStateOptionsError(`"${what}" must be a finite number, got ${String(value)}`)
  }
  return value
}

function checkMs (what: string, value: unknown): number {
  if (value === undefined) return 0
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > MAX_MS) {
    throw new SharedStateOptionsError(`"${what}" must be an integer of ms from 0 to ${MAX_MS}, got ${String(value)}`)
  }
  return value
}

function checkRetries (value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new SharedStateOptionsError(`"retries" must be a whole number of retries from 0, got ${String(value)}`)
  }
  return value
}

function checkCount (value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw new SharedStateOptionsError(`"count" must be a positive integer, got ${String(value)}`)
  }
  return value
}

/**
 * `app.shared`: the shared map every worker sees. Values are encoded here, in the caller's
 * process, so the host only ever stores and moves bytes, and what a caller gets back is always its
 * own copy. The same class runs over every store: the host's memory, a remote host, Redis.
 */
export class SharedMap {
  readonly #store: Store
  readonly #codec: ValueCodec
  readonly #lockTimeout: number
  /** What a lock's handle encodes its writes and decodes its reads with. */
  readonly #lockValues: LockValues = {
    encode: (key, value) => this.#encode(key, value),
    decode: (raw) => this.#codec.decode(raw)
  }

  /** Per key, the tail of this worker's queued `update` calls: see update(). */
  readonly #updates = new Map<string, Promise<unknown>>()

  constructor (store: Store, codec: ValueCodec, lockTimeout: number) {
    this.#store = store
    this.#codec = codec
    this.#lockTimeout = lockTimeout
  }

  /** What this worker is now: the `host`, a `client` of the host, or a worker on `redis`. */
  get role (): Role {
    return this.#store.role
  }

  async get<T = unknown> (key: string): Promise<T | undefined> {
    return this.#decode<T>(await this.#store.get(checkKey(key)))
  }

  async set (key: string, value: unknown, options?: SetOptions): Promise<void> {
    return this.#store.set(checkKey(key), this.#encode(key, value), checkMs('ttl', options?.ttl))
  }

  async setIfAbsent (key: string, value: unknown, options?: SetOptions): Promise<boolean> {
    return this.#store.setIfAbsent(checkKey(key), this.#encode(key, value), checkMs('ttl', options?.ttl))
  }

  async has (key: string): Promise<boolean> {
    return this.#store.has(checkKey(key))
  }

  async delete (key: string): Promise<boolean> {
    return this.#store.delete(checkKey(key))
  }

  async keys (prefix = ''): Promise<string[]> {
    return this.#store.keys(checkKey(prefix))
  }

  async entries<T = unknown> (prefix = ''): Promise<Array<[string, T]>> {
    const entries = await this.#store.entries(checkKey(prefix))
    const decoded = new Array<[string, T]>(entries.length)
    let sliceStart = performance.now()
    for (let at = 0; at < entries.length; at++) {
      // Decoding a million values takes a few hundred milliseconds: in the host worker that
      // would hold every other worker's requests, so a large result is decoded a slice a turn.
      if (at % DECODED_PER_CLOCK === 0 && performance.now() - sliceStart > DECODE_SLICE_MS) {
        await nextTurn()
        sliceStart = performance.now()
      }
      const [key, raw] = entries[at] as [string, Encoded]
      decoded[at] = [key, this.#codec.decode(raw) as T]
    }
    return decoded
  }

  /**
   * The entries of the keys starting with `prefix`, a page of `count` at a time, fetched as the
   * pages are read: as Redis' SCAN promises, every key present from the first page to the last is
   * in some page (a key added or removed meanwhile may or may not be), and a reader that stops
   * early leaves nothing behind.
   */
  async * scan<T = unknown> (prefix = '', options: ScanOptions = {}): AsyncGenerator<Array<[string, T]>, void, undefined> {
    checkKey(prefix)
    const count = options.count === undefined ? DEFAULT_SCAN_COUNT : checkCount(options.count)
    let cursor = ''
    let page: Array<[string, T]> = []
    do {
      const [next, entries] = await this.#store.scan(prefix, cursor, count)
      cursor = next
      for (const [key, raw] of entries) {
        page.push([key, this.#codec.decode(raw) as T])
        if (page.length === count) {
          yield page
          page = []
        }
      }
    } while (cursor !== '')
    if (page.length > 0) yield page
  }

  async size (): Promise<number> {
    return this.#store.size()
  }

  async clear (): Promise<void> {
    return this.#store.clear()
  }

  /**
   * Adds `by` atomically on the host; a missing key counts as 0. With `ttl`, a key this call
   * creates expires after it, in the same step: a fixed window that cannot be left without expiry.
   */
  async incr (key: string, by = 1, options?: SetOptions): Promise<number> {
    return this.#store.incr(checkKey(key), checkNumber('by', by), checkMs('ttl', options?.ttl))
  }

  /** Sets `next` only if the key's value encodes exactly as `expected` (`undefined`: absent). */
  async compareAndSet (key: string, expected: unknown, next: unknown): Promise<boolean> {
    const expectedRaw = expected === undefined ? null : this.#encode(key, expected)
    return this.#store.compareAndSet(checkKey(key), expectedRaw, this.#encode(key, next))
  }

  /**
   * Atomic read-modify-write: `fn(current)` runs here, and its result is written only if nobody
   * wrote the key in between; otherwise `fn` runs again on the newer value. This worker's own
   * updates of one key queue behind each other, so only other workers can make it retry.
   */
  async update<T = unknown> (key: string, fn: (current: T | undefined) => T | Promise<T>, options: UpdateOptions = {}): Promise<T> {
    checkKey(key)
    const retries = options.retries === undefined ? DEFAULT_RETRIES : checkRetries(options.retries)
    const previous = this.#updates.get(key)
    const run = (previous === undefined ? this.#tryUpdate(key, fn, retries) : previous.then(() => this.#tryUpdate(key, fn, retries), () => this.#tryUpdate(key, fn, retries)))
    this.#updates.set(key, run)
    try {
      return await run
    } finally {
      if (this.#updates.get(key) === run) this.#updates.delete(key)
    }
  }

  async getIn<T = unknown> (path: Path): Promise<T | undefined> {
    return this.#decode<T>(await this.#store.getIn(validatePath(path)))
  }

  /** Sets one value inside a key's value, in place on the host: `setIn(['array', 1], 0)`. */
  async setIn (path: Path, value: unknown): Promise<void> {
    const checked = validatePath(path)
    return this.#store.setIn(checked, this.#encode(checked[0], value))
  }

  async deleteIn (path: Path): Promise<boolean> {
    return this.#store.deleteIn(validatePath(path))
  }

  async incrIn (path: Path, by = 1): Promise<number> {
    return this.#store.incrIn(validatePath(path), checkNumber('by', by))
  }

  /** Appends to the array at `path` (created when missing); resolves with its new length. */
  async push (path: Path, ...items: unknown[]): Promise<number> {
    const checked = validatePath(path)
    return this.#store.push(checked, items.map((item) => this.#encode(checked[0], item)))
  }

  /** Gives an existing key a ttl in ms (0: no expiry); false when the key is absent. */
  async expire (key: string, ttl: number): Promise<boolean> {
    return this.#store.expire(checkKey(key), checkMs('ttl', ttl))
  }

  /** ms left before the key expires; -1 when it has no expiry; -2 when it is absent. */
  async ttl (key: string): Promise<number> {
    return this.#store.ttl(checkKey(key))
  }

  /**
   * Calls `listener` for each change of a key starting with `prefix`, in the order applied. The
   * watch is in force once the returned promise resolves: every change applied after that (and,
   * in socket mode, every change this worker asked for after calling watch) is delivered, or the
   * listener hears `{ type: 'lost' }` when events may have been missed (a change of host, a lost
   * Redis subscription) and `{ type: 'overflow' }` when the watch ended because it fell behind.
   */
  async watch<T = unknown> (prefix: string, listener: (event: SharedChangeEvent<T>) => void): Promise<Unsubscribe> {
    return this.#store.watch(checkKey(prefix), (event) => {
      const decoded: SharedChangeEvent<T> = { type: event.type, key: event.key }
      if (event.value !== undefined) decoded.value = this.#codec.decode(event.value) as T
      listener(decoded)
    })
  }

  /** Role, host, connected workers, key count, operations per second, lock waits, failovers. */
  async stats (): Promise<StoreStats> {
    return this.#store.stats()
  }

  /**
   * A named lock; the same name gives the same lock in every worker. The handle is a name and a
   * store, made afresh: a worker that locks `'order:' + id` for every order keeps nothing per name.
   */
  lock (name: string): SharedLock {
    return new SharedLock(this.#store, checkKey(name), this.#lockTimeout, this.#lockValues)
  }

  async #tryUpdate<T> (key: string, fn: (current: T | undefined) => T | Promise<T>, retries: number): Promise<T> {
    for (let attempt = 0; attempt <= retries; attempt++) {
      const [raw, version] = await this.#store.getVersioned(key)
      const next = await fn(this.#decode<T>(raw))
      if (await this.#store.setIfVersion(key, this.#encode(key, next), version)) return next
    }
    throw new SharedStateConflictError(key, retries)
  }

  #encode (key: string, value: unknown): Encoded {
    try {
      return this.#codec.encode(value)
    } catch (error) {
      if (error instanceof UnsupportedValue) throw new SharedStateUnsupportedValueError(key, error.message)
      throw new SharedStateUnsupportedValueError(key, (error as Error).message, { cause: error })
    }
  }

  #decode<T> (raw: Encoded | undefined): T | undefined {
    return raw === undefined ? undefined : this.#codec.decode(raw) as T
  }
}
