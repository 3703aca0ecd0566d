/**
 * The Store contract: what every backend does, at the level of encoded values. The public facade
 * (`app.shared`) encodes and decodes values and validates arguments; a store moves bytes. The
 * host's own worker, every remote worker and the Redis backend all run the same facade over one of
 * these, so behaviour cannot drift between them.
 */

export type Role = 'host' | 'client' | 'redis'

/** A value as the store keeps and moves it: MessagePack bytes from the ValueCodec. */
export type Encoded = Uint8Array

/** `[key, ...segments]`: strings index objects, integers index arrays. */
export type Path = readonly [string, ...Array<string | number>]

/**
 * One page of a walk over the keys of a prefix: the cursor to pass for the next page ('' once the
 * walk is done) and the entries found. Every key present for the whole walk is in some page.
 */
export type ScanPage = [cursor: string, entries: Array<[string, Encoded]>]

export interface LockAcquireOptions {
  /** ms to wait in the queue before LOCK_TIMEOUT. */
  timeout: number
  /** ms after which a holder that has not released loses the lock; 0 = held until released. */
  ttl: number
  /**
   * Epoch ms at which the caller stops waiting (default: `timeout` from when the store reads the
   * request). Sent again after a change of host, it keeps the wait to what was left.
   */
  deadline?: number
}

/** A write that travels with a release: `[key, value, ttl ms (0: none)]`. */
export type LockWrite = [string, Encoded, number]

export interface ChangeEvent {
  /**
   * `overflow`: the watcher fell too far behind; its watch ended and events were missed.
   * `lost`: events may have been missed (a change of host, a lost Redis subscription); the watch
   * is in force again, so a listener that keeps a copy reads the state again.
   */
  type: 'set' | 'delete' | 'expire' | 'clear' | 'overflow' | 'lost'
  key: string
  value?: Encoded
}

export type ChangeListener = (event: ChangeEvent) => void

/** What `app.shared.stats()` reports. */
export interface StoreStats {
  /** What this worker is now. */
  role: Role
  /** Where the state lives: the manager socket's address and the host's pid, or the Redis server. */
  host: { address: string, pid: number }
  /** Workers connected to the host (socket mode; in Redis mode, the clients Redis reports under this prefix's connection name). */
  workers: Array<{ clientId: string, pid: number }>
  keys: number
  /** Operations per second over the last whole second, by op (socket mode: all workers; Redis mode: this worker). */
  opsPerSecond: Record<string, number>
  locks: {
    /** Locks held now. */
    held: number
    /** Acquires waiting now. */
    waiting: number
    /** Acquires that had to wait, in total. */
    waits: number
  }
  /** How often this worker's host changed after registration. */
  failovers: number
  /** Socket mode with `persist`: the host's change log, and why it stopped if it did. */
  persist?: PersistDescription
}

/** The host's change log, as stats and the inspect command show it. */
export interface PersistDescription {
  file: string
  fsync: 'always' | 'everysec' | 'no'
  /** Why the log stopped (a failed write or fsync), or null while it works. */
  failure: string | null
}

/** A store with whatever else its mode opened (a listening host, a Redis connection). */
export interface Backend {
  store: Store
  /** Closes what the mode opened, after `store.close()`. */
  close: () => Promise<void>
  /** The app is about to close: says so before the store closes (a host then never picks it). */
  leaving?: () => void
}

export interface Store {
  readonly role: Role

  get (key: string): Promise<Encoded | undefined>
  set (key: string, value: Encoded, ttl: number): Promise<void>
  setIfAbsent (key: string, value: Encoded, ttl: number): Promise<boolean>
  has (key: string): Promise<boolean>
  delete (key: string): Promise<boolean>
  /** Whole-prefix reads, any size: a backend builds them from pages, never one huge reply. */
  keys (prefix: string): Promise<string[]>
  entries (prefix: string): Promise<Array<[string, Encoded]>>
  /** A page of about `count` entries; `cursor` '' starts a walk. */
  scan (prefix: string, cursor: string, count: number): Promise<ScanPage>
  size (): Promise<number>
  clear (): Promise<void>
  /** Adds `by`; a key it creates gets `ttl` ms (0: none), in the same atomic step. */
  incr (key: string, by: number, ttl: number): Promise<number>

  /** The value and its version; the version changes on every write of the key. */
  getVersioned (key: string): Promise<[Encoded | undefined, number]>
  /** Writes only if the key is still at `version` (0: absent). */
  setIfVersion (key: string, value: Encoded, version: number): Promise<boolean>
  /** `expected` null: the key must be absent. */
  compareAndSet (key: string, expected: Encoded | null, next: Encoded): Promise<boolean>

  getIn (path: Path): Promise<Encoded | undefined>
  setIn (path: Path, value: Encoded): Promise<void>
  deleteIn (path: Path): Promise<boolean>
  incrIn (path: Path, by: number): Promise<number>
  push (path: Path, items: Encoded[]): Promise<number>

  expire (key: string, ttl: number): Promise<boolean>
  /** ms left; -1 when the key has no expiry; -2 when it is absent (Redis' convention). */
  ttl (key: string): Promise<number>

  /** Events for keys starting with `prefix`, in the order the store applied them. */
  watch (prefix: string, listener: ChangeListener): Promise<() => Promise<void>>

  acquireLock (name: string, options: LockAcquireOptions): Promise<number>
  releaseLock (name: string, token: number): Promise<void>
  isLocked (name: string): Promise<boolean>
  /**
   * acquireLock whose grant comes with the values of `keys`, read while the lock is already held:
   * the token and one value (or undefined) per key.
   */
  acquireLockReading (name: string, options: LockAcquireOptions, keys: readonly string[]): Promise<[number, Array<Encoded | undefined>]>
  /**
   * releaseLock that applies `writes` first, while the lock is still held; LOCK_NOT_HELD when it
   * was lost meanwhile (the memory store then writes nothing).
   */
  releaseLockWriting (name: string, token: number, writes: readonly LockWrite[]): Promise<void>

  stats (): Promise<StoreStats>

  /** Releases what this store holds (its locks, its waiters, its watches) and closes its link. */
  close (): Promise<void>
}
