import { SharedStateHostLostError } from '../../errors'
import type { ChangeListener, Encoded, LockAcquireOptions, Path } from '../store'
import type { LockTable } from './lock-table'
import type { MemoryState } from './state'

/**
 * The host's state seen by one owner (a worker's client id), with the Store contract's methods, so
 * the host's op dispatch maps each op onto the method of the same name. The lock table knows
 * whose locks to drop when that owner goes. Methods are async only to match the contract; the
 * work is synchronous, so operations from one owner apply in call order.
 */
export class MemoryStore {
  readonly owner: string
  readonly #state: MemoryState
  readonly #locks: LockTable
  readonly #unwatch = new Set<() => void>()

  constructor (state: MemoryState, locks: LockTable, owner: string) {
    this.#state = state
    this.#locks = locks
    this.owner = owner
  }

  async get (key: string): Promise<Encoded | undefined> { return this.#state.get(key) }
  async set (key: string, value: Encoded, ttl: number): Promise<void> { this.#state.set(key, value, ttl) }
  async setIfAbsent (key: string, value: Encoded, ttl: number): Promise<boolean> { return this.#state.setIfAbsent(key, value, ttl) }
  async has (key: string): Promise<boolean> { return this.#state.has(key) }
  async delete (key: string): Promise<boolean> { return this.#state.delete(key) }
  async keys (prefix: string): Promise<string[]> { return this.#state.keys(prefix) }
  async entries (prefix: string): Promise<Array<[string, Encoded]>> { return this.#state.entries(prefix) }
  async size (): Promise<number> { return this.#state.size }
  async clear (): Promise<void> { this.#state.clear() }
  async incr (key: string, by: number, ttl: number): Promise<number> { return this.#state.incr(key, by, ttl) }

  async getVersioned (key: string): Promise<[Encoded | undefined, number]> { return this.#state.getVersioned(key) }
  async setIfVersion (key: string, value: Encoded, version: number): Promise<boolean> { return this.#state.setIfVersion(key, value, version) }
  async compareAndSet (key: string, expected: Encoded | null, next: Encoded): Promise<boolean> { return this.#state.compareAndSet(key, expected, next) }

  async getIn (path: Path): Promise<Encoded | undefined> { return this.#state.getIn(path) }
  async setIn (path: Path, value: Encoded): Promise<void> { this.#state.setIn(path, value) }
  async deleteIn (path: Path): Promise<boolean> { return this.#state.deleteIn(path) }
  async incrIn (path: Path, by: number): Promise<number> { return this.#state.incrIn(path, by) }
  async push (path: Path, items: Encoded[]): Promise<number> { return this.#state.push(path, items) }

  async expire (key: string, ttl: number): Promise<boolean> { return this.#state.expire(key, ttl) }
  async ttl (key: string): Promise<number> { return this.#state.ttl(key) }

  async watch (prefix: string, listener: ChangeListener): Promise<() => Promise<void>> {
    const stop = this.#state.watch(prefix, listener)
    this.#unwatch.add(stop)
    return async () => {
      stop()
      this.#unwatch.delete(stop)
    }
  }

  acquireLock (name: string, options: LockAcquireOptions): Promise<number> {
    return this.#locks.acquire(name, this.owner, options.timeout, options.ttl)
  }

  async releaseLock (name: string, token: number): Promise<void> { this.#locks.release(name, this.owner, token) }
  async isLocked (name: string): Promise<boolean> { return this.#locks.isLocked(name) }

  /** This owner leaves: its watches stop, its locks pass on, its waits are refused. */
  async close (): Promise<void> {
    for (const stop of this.#unwatch) stop()
    this.#unwatch.clear()
    this.#locks.dropOwner(this.owner, new SharedStateHostLostError('the store was closed'))
  }

  /** The connection behind this owner is gone: nobody is left to answer. */
  detach (): void {
    for (const stop of this.#unwatch) stop()
    this.#unwatch.clear()
    this.#locks.dropOwner(this.owner)
  }
}
