import { SharedStateNotANumberError } from '../../errors'
import type { ValueCodec } from '../../protocol/codec'
import type { ChangeEvent, ChangeListener, Encoded, Path } from '../store'
import { describePath } from '../path'
import { ExpirySweeper } from './expiry-sweeper'
import * as nested from './nested'

/**
 * The host's map. A value is kept as the bytes a client sent (`raw`) and decoded (`live`) only when
 * an operation needs to look inside it (incr, path edits); after such an edit the bytes are
 * re-encoded lazily, on the next read. A key that is only set and read is never decoded on the host.
 */
interface Entry {
  raw: Encoded | undefined
  live: unknown
  decoded: boolean
  version: number
  /** Epoch ms, or 0 for no expiry. Wall-clock, so it survives handover and persistence. */
  expiresAt: number
}

/** What a new host needs to carry on where the old one stopped. */
export interface StateSnapshot {
  entries: Array<[string, Encoded, number]>
  clock: number
}

interface Watcher {
  prefix: string
  listener: ChangeListener
}

/**
 * What changed, as the change log keeps it: the key's whole new value (`put`), its removal, a new
 * deadline (`expiry`), or `clear`. Expiry by time is not a change: a reloaded deadline has passed.
 */
export type StateChange =
  | readonly ['put', string, Encoded, number]
  | readonly ['del', string]
  | readonly ['expiry', string, number]
  | readonly ['clear']

export class MemoryState {
  readonly #codec: ValueCodec
  readonly #entries = new Map<string, Entry>()
  readonly #sweeper = new ExpirySweeper((key, deadline) => {
    const entry = this.#entries.get(key)
    if (entry === undefined || entry.expiresAt !== deadline) return
    this.#entries.delete(key)
    this.#emit('expire', key)
  })

  readonly #watchers = new Set<Watcher>()
  #clock = 0
  /** Told of every change, for the change log. */
  onChange: ((change: StateChange) => void) | undefined

  constructor (codec: ValueCodec) {
    this.#codec = codec
  }

  get size (): number {
    this.#sweeper.sweepDue(Infinity)
    return this.#entries.size
  }

  get (key: string): Encoded | undefined {
    const entry = this.#find(key)
    return entry === undefined ? undefined : this.#rawOf(entry)
  }

  set (key: string, raw: Encoded, ttl: number): void {
    this.put(key, raw, ttl > 0 ? Date.now() + ttl : 0)
  }

  /** Sets `key` with an absolute deadline (0: none), as a handover or a reloaded log does. */
  put (key: string, raw: Encoded, expiresAt: number): void {
    this.#write(key, this.#entries.get(key), raw, undefined, false, expiresAt)
  }

  setIfAbsent (key: string, raw: Encoded, ttl: number): boolean {
    if (this.#find(key) !== undefined) return false
    this.set(key, raw, ttl)
    return true
  }

  has (key: string): boolean {
    return this.#find(key) !== undefined
  }

  delete (key: string): boolean {
    if (this.#find(key) === undefined) return false
    this.#entries.delete(key)
    this.onChange?.(['del', key])
    this.#emit('delete', key)
    return true
  }

  keys (prefix: string): string[] {
    const now = Date.now()
    const keys: string[] = []
    for (const [key, entry] of this.#entries) {
      if (key.startsWith(prefix) && !expired(entry, now)) keys.push(key)
    }
    return keys
  }

  /** `[key, encoded bytes, ms left or -1]` for keys starting with `prefix`, for inspection. */
  describe (prefix: string): Array<[string, number, number]> {
    const now = Date.now()
    return this.keys(prefix).map((key) => {
      const entry = this.#entries.get(key) as Entry
      return [key, this.#rawOf(entry).length, entry.expiresAt === 0 ? -1 : Math.max(0, entry.expiresAt - now)]
    })
  }

  entries (prefix: string): Array<[string, Encoded]> {
    return this.keys(prefix).map((key) => [key, this.#rawOf(this.#entries.get(key) as Entry)])
  }

  clear (): void {
    this.#entries.clear()
    this.#sweeper.clear()
    this.onChange?.(['clear'])
    this.#emit('clear', '')
  }

  incr (key: string, by: number, ttl = 0): number {
    const entry = this.#find(key)
    const current = entry === undefined ? 0 : this.#liveOf(entry)
    if (typeof current !== 'number') throw new SharedStateNotANumberError(describePath([key]))
    const next = current + by
    const expiresAt = entry !== undefined ? entry.expiresAt : ttl > 0 ? Date.now() + ttl : 0
    this.#write(key, entry, undefined, next, true, expiresAt)
    return next
  }

  getVersioned (key: string): [Encoded | undefined, number] {
    const entry = this.#find(key)
    return entry === undefined ? [undefined, 0] : [this.#rawOf(entry), entry.version]
  }

  setIfVersion (key: string, raw: Encoded, version: number): boolean {
    const entry = this.#find(key)
    if ((entry?.version ?? 0) !== version) return false
    this.#write(key, entry, raw, undefined, false, entry?.expiresAt ?? 0)
    return true
  }

  compareAndSet (key: string, expected: Encoded | null, next: Encoded): boolean {
    const entry = this.#find(key)
    if (entry === undefined ? expected !== null : expected === null || !sameBytes(this.#rawOf(entry), expected)) {
      return false
    }
    this.#write(key, entry, next, undefined, false, entry?.expiresAt ?? 0)
    return true
  }

  getIn (path: Path): Encoded | undefined {
    if (path.length === 1) return this.get(path[0])
    const entry = this.#find(path[0])
    if (entry === undefined) return undefined
    const value = nested.getIn(this.#liveOf(entry), path)
    return value === undefined ? undefined : this.#codec.encode(value)
  }

  setIn (path: Path, raw: Encoded): void {
    if (path.length === 1) return this.set(path[0], raw, 0)
    this.#edit(path, (root) => [nested.setIn(root, path, this.#codec.decode(raw)), undefined])
  }

  deleteIn (path: Path): boolean {
    if (path.length === 1) return this.delete(path[0])
    const entry = this.#find(path[0])
    if (entry === undefined || !nested.deleteIn(this.#liveOf(entry), path)) return false
    this.#write(path[0], entry, undefined, entry.live, true, entry.expiresAt)
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
    const entry = this.#find(key)
    if (entry === undefined) return false
    const previous = entry.expiresAt
    entry.expiresAt = expiresAt
    if (expiresAt > 0) this.#sweeper.schedule(key, expiresAt, previous)
    this.onChange?.(['expiry', key, expiresAt])
    return true
  }

  ttl (key: string): number {
    const entry = this.#find(key)
    if (entry === undefined) return -2
    return entry.expiresAt === 0 ? -1 : Math.max(0, entry.expiresAt - Date.now())
  }

  watch (prefix: string, listener: ChangeListener): () => void {
    const watcher = { prefix, listener }
    this.#watchers.add(watcher)
    return () => { this.#watchers.delete(watcher) }
  }

  /** The values with their remaining TTLs (absolute deadlines), for a handover or a snapshot. */
  snapshot (): StateSnapshot {
    const now = Date.now()
    const entries: Array<[string, Encoded, number]> = []
    for (const [key, entry] of this.#entries) {
      if (!expired(entry, now)) entries.push([key, this.#rawOf(entry), entry.expiresAt])
    }
    return { entries, clock: this.#clock }
  }

  restore (snapshot: StateSnapshot): void {
    this.#clock = Math.max(this.#clock, snapshot.clock)
    for (const [key, raw, expiresAt] of snapshot.entries) this.put(key, raw, expiresAt)
  }

  close (): void {
    this.#sweeper.close()
    this.#watchers.clear()
  }

  /** Applies `change` to the decoded value at `path[0]` (created when absent) and stores the result. */
  #edit<R> (path: Path, change: (root: unknown) => [unknown, R]): R {
    const key = path[0]
    const entry = this.#find(key)
    const [root, result] = change(entry === undefined ? undefined : this.#liveOf(entry))
    this.#write(key, entry, undefined, root, true, entry?.expiresAt ?? 0)
    return result
  }

  #write (key: string, entry: Entry | undefined, raw: Encoded | undefined, live: unknown, decoded: boolean, expiresAt: number): void {
    const version = ++this.#clock
    const previous = entry?.expiresAt ?? 0
    if (entry === undefined) {
      this.#entries.set(key, { raw, live, decoded, version, expiresAt })
    } else {
      entry.raw = raw
      entry.live = live
      entry.decoded = decoded
      entry.version = version
      entry.expiresAt = expiresAt
    }
    if (expiresAt > 0) this.#sweeper.schedule(key, expiresAt, previous)
    if (this.onChange !== undefined) this.onChange(['put', key, this.#rawOf(this.#entries.get(key) as Entry), expiresAt])
    if (this.#watchers.size > 0) this.#emit('set', key, this.#entries.get(key))
  }

  /** The live entry for `key`; an expired one is removed on the spot, so it is never visible. */
  #find (key: string): Entry | undefined {
    const entry = this.#entries.get(key)
    if (entry === undefined || !expired(entry, Date.now())) return entry
    this.#entries.delete(key)
    this.#emit('expire', key)
    return undefined
  }

  #rawOf (entry: Entry): Encoded {
    if (entry.raw === undefined) entry.raw = this.#codec.encode(entry.live)
    return entry.raw
  }

  #liveOf (entry: Entry): unknown {
    if (!entry.decoded) {
      entry.live = this.#codec.decode(entry.raw as Encoded)
      entry.decoded = true
    }
    return entry.live
  }

  #emit (type: ChangeEvent['type'], key: string, entry?: Entry): void {
    if (this.#watchers.size === 0) return
    const event: ChangeEvent = entry === undefined ? { type, key } : { type, key, value: this.#rawOf(entry) }
    for (const watcher of this.#watchers) {
      if (type === 'clear' || key.startsWith(watcher.prefix)) watcher.listener(event)
    }
  }
}

function expired (entry: Entry, now: number): boolean {
  return entry.expiresAt !== 0 && entry.expiresAt <= now
}

function sameBytes (a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0
}
