import { SharedStateNotANumberError } from '../../errors'
import type { ValueCodec } from '../../protocol/codec'
import type { ChangeEvent, ChangeListener, Encoded, Path } from '../store'
import { describePath } from '../path'
import { EntryTable } from './entry-table'
import { ExpirySweeper } from './expiry-sweeper'
import { KeyIndex } from './key-index'
import * as nested from './nested'
import { collectPages, MAX_PAGE_ITEMS, walkPage, type Page } from './state-pages'
import { encodeParts, restoreParts, type PartsTarget } from './state-parts'
import { isSmallInteger, rawLength, rawOf, storedFromLive, storedFromRaw, type StoredValue } from './stored-value'

export type { Page } from './state-pages'

/** What a new host needs to carry on where the old one stopped. */
export interface StateSnapshot {
  entries: Array<[string, Encoded, number]>
  clock: number
  /** Entries as binary parts (see entry-parts.ts), as a handover sends them. */
  parts?: Uint8Array[]
  /** A map that holds the entries already (restored as the parts arrived): the host takes it. */
  restored?: MemoryState
}

interface Watcher {
  prefix: string
  listener: ChangeListener
}

/**
 * What changed, as the change log keeps it: the key's whole new value (`put`), its removal, a new
 * deadline (`expiry`), or `clear`. Expiry by time is not a change: a reloaded deadline has passed.
 */
/**
 * A change, as the change log records it. A put's value is its bytes, or a small integer (see
 * isSmallInteger) standing for its own MessagePack bytes: a counter's new value is logged on
 * every incr, and the log writes it without a buffer made for it.
 */
export type StateChange =
  | readonly ['put', string, Encoded | number, number]
  | readonly ['del', string]
  | readonly ['expiry', string, number]
  | readonly ['clear']

// A part of a snapshot holds fewer items than a page: its caller takes parts back to back, a turn apart.
const SNAPSHOT_PART_ITEMS = 2000
const READ_AHEAD_KEYS = 64
// A smaller map stays in the CPU's caches (its buckets and records take a few MB at most), where
// reading ahead only costs its hashing (about 30 ns a key).
const READ_AHEAD_MIN_KEYS = 1 << 16

/**
 * The host's map: entries in an EntryTable (columns, values stored as compactly as their kind
 * allows: see stored-value.ts), every key also in a KeyIndex, so a prefix query and a page of a
 * walk cost what they return. A value that is only set and read is never decoded on the host.
 */
export class MemoryState {
  readonly #codec: ValueCodec
  #table: EntryTable
  #index: KeyIndex
  readonly #sweeper = new ExpirySweeper((slot) => {
    const key = this.#table.key(slot)
    this.#remove(key, slot)
    this.#emit('expire', key)
  })

  readonly #watchers = new Set<Watcher>()
  #clock = 0
  /** The hashes of the keys being read ahead (reused); more keys than this are not read ahead. */
  readonly #aheadHashes = new Uint32Array(READ_AHEAD_KEYS)
  /** Told of every change, for the change log. */
  onChange: ((change: StateChange) => void) | undefined
  /** This map as moving it in binary parts sees it: clear replaces the table and the index. */
  readonly #parts: PartsTarget = {
    table: () => this.#table,
    index: () => this.#index,
    schedule: (slot, deadline) => { this.#sweeper.schedule(slot, deadline) },
    tick: () => this.#tick(),
    codec: () => this.#codec
  }

  constructor (codec: ValueCodec) {
    this.#codec = codec
    this.#table = new EntryTable(codec)
    this.#index = new KeyIndex(this.#table)
  }

  /** Keys held, counting those expired but not yet reclaimed (see `reclaimExpired`). */
  get size (): number {
    return this.#table.size
  }

  /**
   * Reclaims up to `limit` expired keys, so `size` counts only live ones; true when more are due.
   * A caller with many due keys reclaims them a slice at a time, yielding in between.
   */
  reclaimExpired (limit: number): boolean {
    return this.#sweeper.sweepDue(limit)
  }

  /**
   * Reads ahead the memory that looking up `keys` touches (see EntryTable.readAhead), when a batch
   * of requests is about to be handled one by one; changes nothing.
   */
  readAhead (keys: readonly string[]): void {
    if (this.#table.size >= READ_AHEAD_MIN_KEYS) this.#table.readAhead(keys, this.#aheadHashes)
  }

  get (key: string): Encoded | undefined {
    const slot = this.#find(key)
    return slot < 0 ? undefined : this.#table.raw(slot)
  }

  set (key: string, raw: Encoded, ttl: number): void {
    this.put(key, raw, ttl > 0 ? Date.now() + ttl : 0)
  }

  /** Sets `key` with an absolute deadline (0: none), as a handover or a reloaded log does. */
  put (key: string, raw: Encoded, expiresAt: number): void {
    this.#write(key, this.#table.slotOf(key), storedFromRaw(raw), expiresAt, raw)
  }

  setIfAbsent (key: string, raw: Encoded, ttl: number): boolean {
    if (this.#find(key) >= 0) return false
    this.set(key, raw, ttl)
    return true
  }

  has (key: string): boolean {
    return this.#find(key) >= 0
  }

  delete (key: string): boolean {
    const slot = this.#find(key)
    if (slot < 0) return false
    this.#remove(key, slot)
    this.onChange?.(['del', key])
    this.#emit('delete', key)
    return true
  }

  /** Every live key starting with `prefix`, in order; for a map of any size, walk `keysPage`. */
  keys (prefix: string): string[] {
    return collectPages((cursor) => this.keysPage(prefix, cursor, MAX_PAGE_ITEMS))
  }

  entries (prefix: string): Array<[string, Encoded]> {
    return collectPages((cursor) => this.entriesPage(prefix, cursor, MAX_PAGE_ITEMS, Infinity))
  }

  /**
   * Up to `count` live keys starting with `prefix`, in order, after `cursor` ('' for the first
   * page). Every key present from the first page to the last is returned exactly once.
   */
  keysPage (prefix: string, cursor: string, count: number, maxBytes = Infinity): Page<string> {
    return this.#page(prefix, cursor, count, maxBytes, (slot) => {
      const key = this.#table.key(slot)
      return [key, key.length * 3]
    })
  }

  /** As `keysPage`, with the values, and stopping early once the page holds `maxBytes`. */
  entriesPage (prefix: string, cursor: string, count: number, maxBytes: number): Page<[string, Encoded]> {
    return this.#page(prefix, cursor, count, maxBytes, (slot) => {
      const key = this.#table.key(slot)
      const raw = this.#table.raw(slot)
      return [[key, raw], key.length * 3 + raw.length]
    })
  }

  /** `[key, encoded bytes, ms left or -1]` per key, for inspection, a page at a time. */
  describePage (prefix: string, cursor: string, count: number, maxBytes = Infinity): Page<[string, number, number]> {
    const now = Date.now()
    return this.#page(prefix, cursor, count, maxBytes, (slot) => {
      const key = this.#table.key(slot)
      const deadline = this.#table.deadline(slot)
      const row: [string, number, number] = [key, rawLength(this.#table.value(slot), this.#codec), deadline === 0 ? -1 : Math.max(0, deadline - now)]
      return [row, key.length * 3]
    })
  }

  /** Empties the map at once: the old entries are left to the garbage collector, not walked. */
  clear (): void {
    this.#table = new EntryTable(this.#codec)
    this.#index = new KeyIndex(this.#table)
    this.#sweeper.clear()
    this.onChange?.(['clear'])
    this.#emit('clear', '')
  }

  incr (key: string, by: number, ttl = 0): number {
    const slot = this.#find(key)
    const current = slot < 0 ? 0 : this.#table.decoded(slot)
    if (typeof current !== 'number') throw new SharedStateNotANumberError(describePath([key]))
    const next = current + by
    const expiresAt = slot >= 0 ? this.#table.deadline(slot) : ttl > 0 ? Date.now() + ttl : 0
    this.#write(key, slot, next, expiresAt, undefined)
    return next
  }

  getVersioned (key: string): [Encoded | undefined, number] {
    const slot = this.#find(key)
    return slot < 0 ? [undefined, 0] : [this.#table.raw(slot), this.#table.version(slot)]
  }

  setIfVersion (key: string, raw: Encoded, version: number): boolean {
    const slot = this.#find(key)
    if ((slot < 0 ? 0 : this.#table.version(slot)) !== version) return false
    this.#write(key, slot, storedFromRaw(raw), slot < 0 ? 0 : this.#table.deadline(slot), raw)
    return true
  }

  compareAndSet (key: string, expected: Encoded | null, next: Encoded): boolean {
    const slot = this.#find(key)
    if (slot < 0 ? expected !== null : expected === null || !sameBytes(rawOf(this.#table.value(slot), this.#codec), expected)) {
      return false
    }
    this.#write(key, slot, storedFromRaw(next), slot < 0 ? 0 : this.#table.deadline(slot), next)
    return true
  }

  getIn (path: Path): Encoded | undefined {
    if (path.length === 1) return this.get(path[0])
    const slot = this.#find(path[0])
    if (slot < 0) return undefined
    const value = nested.getIn(this.#table.live(slot).value, path)
    return value === undefined ? undefined : this.#codec.encode(value)
  }

  setIn (path: Path, raw: Encoded): void {
    if (path.length === 1) return this.set(path[0], raw, 0)
    this.#edit(path, (root) => [nested.setIn(root, path, this.#codec.decode(raw)), undefined])
  }

  deleteIn (path: Path): boolean {
    if (path.length === 1) return this.delete(path[0])
    const slot = this.#find(path[0])
    if (slot < 0) return false
    const root = this.#table.live(slot).value
    if (!nested.deleteIn(root, path)) return false
    this.#write(path[0], slot, storedFromLive(root), this.#table.deadline(slot), undefined)
    return true
  }

  incrIn (path: Path, by: number): number {
    if (path.length === 1) return this.incr(path[0], by)
    return this.#edit(path, (root) => nested.incrIn(root, path, by))
  }

  push (path: Path, items: Encoded[]): number {
    return this.#edit(path, (root) => nested.pushIn(root, path, items.map((item) => this.#codec.decode(item))))
  }

  expire (key: string, ttl: number): boolean {
    return this.expireAt(key, ttl > 0 ? Date.now() + ttl : 0)
  }

  /** Gives `key` an absolute deadline (0: none); false when it is absent. */
  expireAt (key: string, expiresAt: number): boolean {
    const slot = this.#find(key)
    if (slot < 0) return false
    const previous = this.#table.deadline(slot)
    this.#table.setDeadline(slot, expiresAt)
    if (expiresAt !== previous) this.#sweeper.schedule(slot, expiresAt)
    this.onChange?.(['expiry', key, expiresAt])
    return true
  }

  ttl (key: string): number {
    const slot = this.#find(key)
    if (slot < 0) return -2
    const deadline = this.#table.deadline(slot)
    return deadline === 0 ? -1 : Math.max(0, deadline - Date.now())
  }

  watch (prefix: string, listener: ChangeListener): () => void {
    const watcher = { prefix, listener }
    this.#watchers.add(watcher)
    return () => { this.#watchers.delete(watcher) }
  }

  /** The values with their remaining TTLs (absolute deadlines), for a handover or a snapshot. */
  snapshot (): StateSnapshot {
    const entries: Array<[string, Encoded, number]> = []
    for (const part of this.snapshotParts(Infinity)) for (const entry of part) entries.push(entry)
    return { entries, clock: this.#clock }
  }

  /**
   * The same entries as `snapshot`, a part of at most about `maxBytes` (and SNAPSHOT_PART_ITEMS) at a
   * time, so a caller can send or write each part and yield before it asks for the next. Walked
   * by key: a key changed between two parts is seen with its value at the time its part was made.
   */
  * snapshotParts (maxBytes: number): Generator<Array<[string, Encoded, number]>> {
    let cursor = ''
    do {
      const page = this.#page('', cursor, SNAPSHOT_PART_ITEMS, maxBytes, (slot) => {
        const key = this.#table.key(slot)
        const raw = this.#table.raw(slot)
        const entry: [string, Encoded, number] = [key, raw, this.#table.deadline(slot)]
        return [entry, key.length * 3 + raw.length]
      })
      cursor = page.cursor
      if (page.items.length > 0) yield page.items
    } while (cursor !== '')
  }

  /**
   * The live entries as binary parts, in key order, for a handover or a snapshot (see
   * state-parts.ts): the caller sends or writes each part and yields before it asks for the next.
   */
  encodedParts (maxBytes: number): Generator<Buffer> {
    return encodeParts(this.#parts, maxBytes)
  }

  /**
   * Adds the entries of binary parts, yielding the keys restored so far after each part, so a
   * caller restores a large state a part per turn (see state-parts.ts).
   */
  restoreParts (parts: readonly Uint8Array[]): Generator<number> {
    return restoreParts(this.#parts, parts)
  }

  /** The version clock, which a successor continues from. */
  get clock (): number {
    return this.#clock
  }

  restore (snapshot: StateSnapshot): void {
    this.#clock = Math.max(this.#clock, snapshot.clock)
    for (const [key, raw, expiresAt] of snapshot.entries) this.put(key, raw, expiresAt)
  }

  close (): void {
    this.#sweeper.close()
    this.#watchers.clear()
  }

  #page<T> (prefix: string, cursor: string, count: number, maxBytes: number, take: (slot: number) => [T, number]): Page<T> {
    return walkPage(this.#table, this.#index, { prefix, cursor, count, maxBytes }, take)
  }

  /** Applies `change` to the decoded value at `path[0]` (created when absent) and stores the result. */
  #edit<R> (path: Path, change: (root: unknown) => [unknown, R]): R {
    const key = path[0]
    const slot = this.#find(key)
    const [root, result] = change(slot < 0 ? undefined : this.#table.live(slot).value)
    this.#write(key, slot, storedFromLive(root), slot < 0 ? 0 : this.#table.deadline(slot), undefined)
    return result
  }

  /** Stores `stored` under `key` (`raw`: its bytes, when the caller has them). */
  #write (key: string, slot: number, stored: StoredValue, expiresAt: number, raw: Encoded | undefined): void {
    const version = this.#tick()
    const previous = slot < 0 ? 0 : this.#table.deadline(slot)
    if (slot < 0) {
      slot = this.#table.add(key, stored, version, expiresAt)
      this.#index.add(key, slot)
    } else {
      this.#table.write(slot, stored, version, expiresAt)
    }
    if (expiresAt !== previous) this.#sweeper.schedule(slot, expiresAt)
    if (this.onChange === undefined && this.#watchers.size === 0) return
    if (raw === undefined && typeof stored === 'number' && isSmallInteger(stored) && this.#watchers.size === 0) {
      this.onChange?.(['put', key, stored, expiresAt])
      return
    }
    const bytes = raw ?? rawOf(stored, this.#codec)
    this.onChange?.(['put', key, bytes, expiresAt])
    this.#emit('set', key, bytes)
  }

  /**
   * The next version. A key keeps the clock's low 32 bits: a version only has to differ from the
   * key's earlier ones while an `update` of it runs, and four billion writes of the whole map
   * inside one update's read and write is out of reach. 0 stays "absent".
   */
  #tick (): number {
    // `>>> 0` is the clock modulo 2^32 for any clock below 2^53; `% 2 ** 32` of a clock the
    // compiler cannot prove small is a call to a float modulo, some 15 ns a write.
    let version = ++this.#clock >>> 0
    if (version === 0) version = ++this.#clock >>> 0
    return version
  }

  #remove (key: string, slot: number): void {
    this.#index.delete(key, slot)
    if (this.#table.deadline(slot) !== 0) this.#sweeper.forget(slot)
    this.#table.remove(slot)
  }

  /** The live slot of `key`, or -1; an expired key is removed on the spot, so it is never visible. */
  #find (key: string): number {
    const slot = this.#table.slotOf(key)
    if (slot < 0) return slot
    const deadline = this.#table.deadline(slot)
    if (deadline === 0 || deadline > Date.now()) return slot
    this.#remove(key, slot)
    this.#emit('expire', key)
    return -1
  }

  #emit (type: ChangeEvent['type'], key: string, value?: Encoded): void {
    if (this.#watchers.size === 0) return
    const event: ChangeEvent = value === undefined ? { type, key } : { type, key, value }
    for (const watcher of this.#watchers) {
      if (type === 'clear' || key.startsWith(watcher.prefix)) watcher.listener(event)
    }
  }
}

function sameBytes (a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0
}
