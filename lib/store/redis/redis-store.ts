import { SharedStateNotANumberError } from '../../errors'
import { OpMeter } from '../../host/op-meter'
import type { ValueCodec } from '../../protocol/codec'
import { opCode } from '../../protocol/messages'
import { describePath } from '../path'
import type { ChangeListener, Encoded, LockAcquireOptions, LockWrite, Path, Role, ScanPage, Store, StoreStats } from '../store'
import type { KeyLayout } from './keys'
import { PathEdits } from './path-edits'
import type { RedisLink } from './redis-link'
import type { RedisLocks } from './redis-locks'
import { describeRedis } from './redis-stats'
import { CLEAR_EVENT, type RedisWatch } from './redis-watch'

const SCAN_COUNT = 1000

const METERED = [
  'get', 'set', 'setIfAbsent', 'has', 'delete', 'keys', 'entries', 'size', 'clear', 'incr',
  'getVersioned', 'setIfVersion', 'compareAndSet', 'getIn', 'setIn', 'deleteIn', 'incrIn', 'push',
  'expire', 'ttl', 'watch', 'acquireLock', 'releaseLock', 'isLocked', 'stats', 'scan'
] as const

// The ops as the socket protocol numbers them, so `stats()` reports the same names in both modes.
const OP = Object.freeze(Object.fromEntries(METERED.map((name) => [name, opCode(name)]))) as Readonly<Record<typeof METERED[number], number>>

function asBuffer (bytes: Uint8Array): Buffer {
  // ioredis sends a Buffer as bytes but would stringify a plain Uint8Array: wrap, do not copy.
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

/**
 * The Store contract over Redis. Single commands where one fits (get, has, ttl, the versioned read),
 * a Lua script wherever a step reads and writes (scripts.ts), optimistic versioned writes for the
 * nested edits (path-edits.ts). Operations from this process go out on one connection in call
 * order; a nested edit takes two round trips, so later calls on the same key (and the calls that
 * span keys) wait for the edits before them, and call order still holds.
 *
 * `keys`, `entries`, `size` and `clear` walk the prefix with SCAN: they are not one atomic
 * snapshot, and a key written while they run may or may not be seen (or cleared).
 */
export class RedisStore implements Store {
  readonly role: Role = 'redis'
  readonly #link: RedisLink
  readonly #keys: KeyLayout
  readonly #locks: RedisLocks
  readonly #watch: RedisWatch
  readonly #paths: PathEdits
  readonly #codec: ValueCodec
  readonly #meter = new OpMeter()
  /** Per key, the tail of this process' nested edits still running. */
  readonly #edits = new Map<string, Promise<unknown>>()

  constructor (link: RedisLink, keys: KeyLayout, codec: ValueCodec, locks: RedisLocks, watch: RedisWatch, timeout: number) {
    this.#link = link
    this.#keys = keys
    this.#locks = locks
    this.#watch = watch
    this.#codec = codec
    this.#paths = new PathEdits({
      getVersioned: (key) => this.#getVersioned(key),
      setIfVersion: (key, value, version) => this.#setIfVersion(key, value, version)
    }, codec, timeout)
    watch.onLockReleased = (owner, name) => locks.woken(owner, name)
  }

  get (key: string): Promise<Encoded | undefined> {
    this.#meter.count(OP.get)
    return this.#inOrder(key, () => this.#get(key))
  }

  set (key: string, value: Encoded, ttl: number): Promise<void> {
    this.#meter.count(OP.set)
    return this.#inOrder(key, async () => {
      await this.#link.call('set', (client) =>
        client.ssSet(this.#keys.data(key), this.#keys.clock, this.#keys.events, asBuffer(value), ttl))
    })
  }

  setIfAbsent (key: string, value: Encoded, ttl: number): Promise<boolean> {
    this.#meter.count(OP.setIfAbsent)
    return this.#inOrder(key, async () => (await this.#link.call('setIfAbsent', (client) =>
      client.ssSetIfAbsent(this.#keys.data(key), this.#keys.clock, this.#keys.events, asBuffer(value), ttl))) === 1)
  }

  has (key: string): Promise<boolean> {
    this.#meter.count(OP.has)
    return this.#inOrder(key, async () => (await this.#link.call('has', (client) => client.exists(this.#keys.data(key)))) === 1)
  }

  delete (key: string): Promise<boolean> {
    this.#meter.count(OP.delete)
    return this.#inOrder(key, async () => (await this.#link.call('delete', (client) =>
      client.ssDelete(this.#keys.data(key), this.#keys.clock, this.#keys.events))) === 1)
  }

  keys (prefix: string): Promise<string[]> {
    this.#meter.count(OP.keys)
    return this.#afterEdits(async () => {
      const keys: string[] = []
      await this.#scan(this.#keys.dataPattern(prefix), async (batch) => { for (const key of batch) keys.push(this.#keys.userKey(key) as string) })
      return keys
    })
  }

  entries (prefix: string): Promise<Array<[string, Encoded]>> {
    this.#meter.count(OP.entries)
    return this.#afterEdits(async () => {
      const entries: Array<[string, Encoded]> = []
      await this.#scan(this.#keys.dataPattern(prefix), async (batch) => {
        const values = await this.#link.call('entries', (client) => client.ssValuesBuffer(batch.length, ...batch))
        batch.forEach((key, i) => {
          const value = values[i]
          // null: deleted or expired between the SCAN and this read.
          if (value !== null && value !== undefined) entries.push([this.#keys.userKey(key) as string, value])
        })
      })
      return entries
    })
  }

  /** One SCAN step over the prefix, with the values of the keys it found. */
  scan (prefix: string, cursor: string, count: number): Promise<ScanPage> {
    this.#meter.count(OP.scan)
    return this.#afterEdits(async () => {
      const [next, found] = await this.#link.call('scan', (client) =>
        client.scan(cursor === '' ? '0' : cursor, 'MATCH', this.#keys.dataPattern(prefix), 'COUNT', Math.max(1, count)))
      const entries: Array<[string, Encoded]> = []
      if (found.length > 0) {
        const values = await this.#link.call('scan', (client) => client.ssValuesBuffer(found.length, ...found))
        found.forEach((key, i) => {
          const value = values[i]
          // null: deleted or expired between the SCAN and this read.
          if (value !== null && value !== undefined) entries.push([this.#keys.userKey(key) as string, value])
        })
      }
      return [next === '0' ? '' : next, entries]
    })
  }

  size (): Promise<number> {
    this.#meter.count(OP.size)
    return this.#afterEdits(() => this.#count(this.#keys.dataPattern('')))
  }

  clear (): Promise<void> {
    this.#meter.count(OP.clear)
    return this.#afterEdits(async () => {
      await this.#scan(this.#keys.dataPattern(''), async (batch) => { await this.#link.call('clear', (client) => client.unlink(...batch)) })
      await this.#link.call('clear', (client) => client.publish(this.#keys.events, CLEAR_EVENT))
    })
  }

  incr (key: string, by: number, ttl: number): Promise<number> {
    this.#meter.count(OP.incr)
    return this.#inOrder(key, async () => {
      const next = await this.#link.call('incr', (client) =>
        client.ssIncrBuffer(this.#keys.data(key), this.#keys.clock, this.#keys.events, String(by), ttl))
      if (next === null) throw new SharedStateNotANumberError(describePath([key]))
      // The script answers with the bytes it stored: the new number, in MessagePack.
      return this.#codec.decode(next) as number
    })
  }

  getVersioned (key: string): Promise<[Encoded | undefined, number]> {
    this.#meter.count(OP.getVersioned)
    return this.#inOrder(key, () => this.#getVersioned(key))
  }

  setIfVersion (key: string, value: Encoded, version: number): Promise<boolean> {
    this.#meter.count(OP.setIfVersion)
    return this.#inOrder(key, () => this.#setIfVersion(key, value, version))
  }

  compareAndSet (key: string, expected: Encoded | null, next: Encoded): Promise<boolean> {
    this.#meter.count(OP.compareAndSet)
    return this.#inOrder(key, async () => (await this.#link.call('compareAndSet', (client) =>
      client.ssCompareAndSet(this.#keys.data(key), this.#keys.clock, this.#keys.events,
        expected === null ? '0' : '1', expected === null ? '' : asBuffer(expected), asBuffer(next)))) === 1)
  }

  getIn (path: Path): Promise<Encoded | undefined> {
    this.#meter.count(OP.getIn)
    return this.#inOrder(path[0], async () => this.#paths.getIn(await this.#get(path[0]), path))
  }

  setIn (path: Path, value: Encoded): Promise<void> {
    this.#meter.count(OP.setIn)
    // One segment replaces the whole value, ttl included, as in the memory store.
    if (path.length === 1) return this.set(path[0], value, 0)
    return this.#editInOrder(path[0], () => this.#paths.setIn(path, value))
  }

  deleteIn (path: Path): Promise<boolean> {
    this.#meter.count(OP.deleteIn)
    if (path.length === 1) return this.delete(path[0])
    return this.#editInOrder(path[0], () => this.#paths.deleteIn(path))
  }

  incrIn (path: Path, by: number): Promise<number> {
    this.#meter.count(OP.incrIn)
    if (path.length === 1) return this.incr(path[0], by, 0)
    return this.#editInOrder(path[0], () => this.#paths.incrIn(path, by))
  }

  push (path: Path, items: Encoded[]): Promise<number> {
    this.#meter.count(OP.push)
    return this.#editInOrder(path[0], () => this.#paths.push(path, items))
  }

  expire (key: string, ttl: number): Promise<boolean> {
    this.#meter.count(OP.expire)
    return this.#inOrder(key, async () => (await this.#link.call('expire', (client) => client.ssExpire(this.#keys.data(key), ttl))) === 1)
  }

  ttl (key: string): Promise<number> {
    this.#meter.count(OP.ttl)
    return this.#inOrder(key, () => this.#link.call('ttl', (client) => client.pttl(this.#keys.data(key))))
  }

  watch (prefix: string, listener: ChangeListener): Promise<() => Promise<void>> {
    this.#meter.count(OP.watch)
    return this.#watch.watch(prefix, listener)
  }

  acquireLock (name: string, options: LockAcquireOptions): Promise<number> {
    this.#meter.count(OP.acquireLock)
    return this.#locks.acquire(name, options)
  }

  releaseLock (name: string, token: number): Promise<void> {
    this.#meter.count(OP.releaseLock)
    return this.#locks.release(name, token)
  }

  isLocked (name: string): Promise<boolean> {
    this.#meter.count(OP.isLocked)
    return this.#locks.isLocked(name)
  }

  // Redis has no host to fold these into one step: the reads follow the grant and the writes
  // precede the release, as separate calls on the same pipeline.
  async acquireLockReading (name: string, options: LockAcquireOptions, keys: readonly string[]): Promise<[number, Array<Encoded | undefined>]> {
    const token = await this.acquireLock(name, options)
    return [token, await Promise.all(keys.map((key) => this.get(key)))]
  }

  async releaseLockWriting (name: string, token: number, writes: readonly LockWrite[]): Promise<void> {
    await Promise.all(writes.map(([key, value, ttl]) => this.set(key, value, ttl)))
    await this.releaseLock(name, token)
  }

  async stats (): Promise<StoreStats> {
    this.#meter.count(OP.stats)
    return await describeRedis(this.#link, this.#keys, {
      keys: () => this.#count(this.#keys.dataPattern('')),
      locksHeld: () => this.#count(this.#keys.lockPattern()),
      opsPerSecond: this.#meter.rates(),
      waiting: this.#locks.waiting,
      waits: this.#locks.waits
    })
  }

  /** Gives back this process' locks and queue places, ends its watches, refuses later calls. */
  async close (): Promise<void> {
    this.#meter.close()
    await this.#locks.close()
    this.#watch.close()
    this.#link.close()
  }

  async #get (key: string): Promise<Encoded | undefined> {
    const value = await this.#link.call('get', (client) => client.hgetBuffer(this.#keys.data(key), 'v'))
    return value ?? undefined
  }

  async #getVersioned (key: string): Promise<[Encoded | undefined, number]> {
    const [value, version] = await this.#link.call('getVersioned', (client) => client.hmgetBuffer(this.#keys.data(key), 'v', 'n'))
    if (value === null || value === undefined) return [undefined, 0]
    return [value, Number(version?.toString() ?? 0)]
  }

  async #setIfVersion (key: string, value: Encoded, version: number): Promise<boolean> {
    return (await this.#link.call('setIfVersion', (client) =>
      client.ssSetIfVersion(this.#keys.data(key), this.#keys.clock, this.#keys.events, asBuffer(value), version))) === 1
  }

  /** Runs `step` now, or after this process' nested edits of `key` that were called before it. */
  #inOrder<T> (key: string, step: () => Promise<T>): Promise<T> {
    const pending = this.#edits.get(key)
    return pending === undefined ? step() : pending.then(step, step)
  }

  #editInOrder<T> (key: string, edit: () => Promise<T>): Promise<T> {
    const run = this.#inOrder(key, edit)
    const tail = run.then(() => {}, () => {})
    this.#edits.set(key, tail)
    tail.then(() => { if (this.#edits.get(key) === tail) this.#edits.delete(key) }, () => {})
    return run
  }

  #afterEdits<T> (step: () => Promise<T>): Promise<T> {
    if (this.#edits.size === 0) return step()
    return Promise.all(this.#edits.values()).then(step)
  }

  async #count (pattern: string): Promise<number> {
    let count = 0
    await this.#scan(pattern, async (batch) => { count += batch.length })
    return count
  }

  /** Hands on every key matching `pattern`, in batches, each once. */
  async #scan (pattern: string, onBatch: (keys: string[]) => Promise<void>): Promise<void> {
    // SCAN may return a key twice.
    const seen = new Set<string>()
    let cursor = '0'
    do {
      const [next, found] = await this.#link.call('scan', (client) => client.scan(cursor, 'MATCH', pattern, 'COUNT', SCAN_COUNT))
      cursor = next
      const batch = found.filter((key) => !seen.has(key))
      for (const key of batch) seen.add(key)
      if (batch.length > 0) await onBatch(batch)
    } while (cursor !== '0')
  }
}
