import { setImmediate as nextTurn } from 'node:timers/promises'
import { SharedStateLockNotHeldError } from '../../errors'
import type { ChangeListener, Encoded, LockAcquireOptions, LockWrite, Path, ScanPage } from '../store'
import type { LockTable } from './lock-table'
import type { MemoryState } from './state'
import { collectPagesInTurns } from './state-pages'

// Expired keys reclaimed per turn while `size` waits for an exact count.
const RECLAIM_SLICE = 10_000

// The whole-map `keys` and `entries` ops take the map a page of this many keys a turn, so a large
// map never holds the loop; like a scan, a key present throughout is in the result.
const WALK_PAGE_ITEMS = 2000

async function reclaimThenCount (state: MemoryState): Promise<number> {
  do await nextTurn()
  while (state.reclaimExpired(RECLAIM_SLICE))
  return state.size
}

/**
 * The most tokens one grant reserves for its worker's own hand-offs: the bound on how many
 * sections a worker runs in a row while another worker waits, whatever the worker asks for.
 */
export const MAX_LOCK_TURNS = 64

/**
 * The host's state seen by one owner (a worker's client id), with the Store contract's methods, so
 * the host's op dispatch maps each op onto the method of the same name. The lock table knows
 * whose locks to drop when that owner goes. The work is synchronous (only a lock wait is not), so
 * operations from one owner apply in call order and the host answers without a promise per op.
 */
export class MemoryStore {
  readonly owner: string
  readonly #state: MemoryState
  readonly #locks: LockTable

  constructor (state: MemoryState, locks: LockTable, owner: string) {
    this.#state = state
    this.#locks = locks
    this.owner = owner
  }

  get (key: string): Encoded | undefined { return this.#state.get(key) }
  set (key: string, value: Encoded, ttl: number): void { this.#state.set(key, value, ttl) }
  setIfAbsent (key: string, value: Encoded, ttl: number): boolean { return this.#state.setIfAbsent(key, value, ttl) }
  has (key: string): boolean { return this.#state.has(key) }
  delete (key: string): boolean { return this.#state.delete(key) }
  keys (prefix: string): Promise<string[]> {
    return collectPagesInTurns((cursor) => this.#state.keysPage(prefix, cursor, WALK_PAGE_ITEMS))
  }

  entries (prefix: string): Promise<Array<[string, Encoded]>> {
    return collectPagesInTurns((cursor) => this.#state.entriesPage(prefix, cursor, WALK_PAGE_ITEMS, Infinity))
  }

  scan (prefix: string, cursor: string, count: number, maxBytes: number): ScanPage {
    const page = this.#state.entriesPage(prefix, cursor, count, maxBytes)
    return [page.cursor, page.items]
  }

  scanKeys (prefix: string, cursor: string, count: number, maxBytes: number): [string, string[]] {
    const page = this.#state.keysPage(prefix, cursor, count, maxBytes)
    return [page.cursor, page.items]
  }

  /** The count of live keys; many expired keys not yet reclaimed are reclaimed a slice at a time. */
  size (): number | Promise<number> {
    return this.#state.reclaimExpired(RECLAIM_SLICE) ? reclaimThenCount(this.#state) : this.#state.size
  }

  clear (): void { this.#state.clear() }
  incr (key: string, by: number, ttl: number): number { return this.#state.incr(key, by, ttl) }

  getVersioned (key: string): [Encoded | undefined, number] { return this.#state.getVersioned(key) }
  setIfVersion (key: string, value: Encoded, version: number): boolean { return this.#state.setIfVersion(key, value, version) }
  compareAndSet (key: string, expected: Encoded | null, next: Encoded): boolean { return this.#state.compareAndSet(key, expected, next) }

  getIn (path: Path): Encoded | undefined { return this.#state.getIn(path) }
  setIn (path: Path, value: Encoded): void { this.#state.setIn(path, value) }
  deleteIn (path: Path): boolean { return this.#state.deleteIn(path) }
  incrIn (path: Path, by: number): number { return this.#state.incrIn(path, by) }
  push (path: Path, items: Encoded[]): number { return this.#state.push(path, items) }

  expire (key: string, ttl: number): boolean { return this.#state.expire(key, ttl) }
  ttl (key: string): number { return this.#state.ttl(key) }

  /** The session that asked keeps the returned stop and calls it when its worker goes. */
  watch (prefix: string, listener: ChangeListener): () => void {
    return this.#state.watch(prefix, listener)
  }

  acquireLock (name: string, options: LockAcquireOptions): Promise<number> {
    return this.#locks.acquire(name, this.owner, options.timeout, options.ttl, { deadline: options.deadline, tag: this })
  }

  releaseLock (name: string, token: number): void { this.#locks.release(name, this.owner, token) }
  isLocked (name: string): boolean { return this.#locks.isLocked(name) }

  /**
   * The token and the values of `keys`, read once granted: nobody else holds the lock, as if the
   * holder had asked itself. With no keys, the token alone: the reply is kept for a retry, and a
   * bare number is the smallest thing to keep.
   */
  async acquireLockReading (name: string, options: LockAcquireOptions, keys: readonly string[], turns = 1): Promise<number | [number, Array<Encoded | null>]> {
    const reserved = Math.max(1, Math.min(MAX_LOCK_TURNS, turns))
    const token = await this.#locks.acquire(name, this.owner, options.timeout, options.ttl, { deadline: options.deadline, tag: this, turns: reserved })
    if (keys.length === 0) return token
    return [token, keys.map((key) => this.#state.get(key) ?? null)]
  }

  /**
   * The release is checked first and the writes follow in the same synchronous step: the next
   * holder's grant (a promise callback, later in this turn) reads them, and a lost lock writes
   * nothing.
   */
  releaseLockWriting (name: string, token: number, writes: readonly LockWrite[]): void {
    this.#locks.release(name, this.owner, token)
    for (const [key, value, ttl] of writes) this.#state.set(key, value, ttl)
  }

  /** The writes of a section this owner passed on itself, while it still holds grant `token`. */
  writeUnderLock (name: string, token: number, writes: readonly LockWrite[]): void {
    if (!this.#locks.holds(name, this.owner, token)) throw new SharedStateLockNotHeldError(name, token)
    for (const [key, value, ttl] of writes) this.#state.set(key, value, ttl)
  }

  /** The connection behind this owner is gone: its locks pass on, its waits are dropped unanswered. */
  detach (): void {
    this.#locks.dropOwner(this.owner)
  }

  /**
   * This connection was replaced by a newer one of the same owner, which keeps the owner's locks
   * and sends again what it still waits for: only the waits that came this way are dropped.
   */
  retire (): void {
    this.#locks.dropWaits(this.owner, this)
  }
}
