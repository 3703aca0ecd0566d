import type { ValueCodec } from '../../protocol/codec'
import type { Encoded } from '../store'
import { HashIndex } from './hash-index'
import { hashKey } from './key-hash'
import { KeyArena, numberBytes } from './key-arena'
import { LiveValues } from './live-values'
import { SlotStack } from './slot-stack'
import { INLINE_BYTES, LiveValue, rawOf, type StoredValue } from './stored-value'

// The columns grow by whole segments, never by copying what they hold, so adding the ten
// millionth key costs what adding the first did.
const SEGMENT_BITS = 16
const SEGMENT_SIZE = 1 << SEGMENT_BITS
const SEGMENT_MASK = SEGMENT_SIZE - 1

// What a slot's value is, and where it is; kept in the record.
/** A number in the record's value bytes: an int32 in 4 of them, any other as a float64 in 8. */
const NUMBER = 1
/** Encoded bytes of at most INLINE_BYTES, in the record. */
const BYTES = 2
/** Larger encoded bytes, as their own Uint8Array. */
const LARGE = 3
/** A decoded value, in the bounded LiveValues. */
const LIVE = 4

/**
 * The host's entries, one slot each, with no heap object per key: each key is a record in a
 * KeyArena, which also holds its version (32 bits: see MemoryState's clock), the kind of its
 * value and the value itself when it is small; a HashIndex finds a key's record; per slot,
 * typed-array columns hold the record's handle and (in segments where a key has one) the
 * deadline. Slots are what the ordered index and the expiry queue hold: they stay put when a
 * record moves. Large values and a bounded set of decoded ones live on the heap, by slot. A freed
 * slot is reused by the next key added.
 */
export class EntryTable {
  readonly #codec: ValueCodec
  readonly #handles: Uint32Array[] = []
  readonly #arena = new KeyArena({
    handleOf: (slot) => this.#handle(slot),
    moved: (slot, from, to) => { this.#moved(slot, from, to) }
  })

  readonly #index = new HashIndex(this.#arena)
  /** A segment's deadlines exist once one of its keys has one: a map without ttls has none. */
  readonly #deadlines: Array<Float64Array | undefined> = []
  readonly #large = new Map<number, Uint8Array>()
  readonly #live = new LiveValues()
  readonly #free = new SlotStack()
  #end = 0
  #size = 0
  /** The slot slotOf found last and its record, so the calls that follow skip the column. */
  #foundSlot = -1
  #foundHandle = 0
  #readAheadSum = 0

  constructor (codec: ValueCodec) {
    this.#codec = codec
  }

  get size (): number {
    return this.#size
  }

  /** Key and small value bytes held, live and dead (see KeyArena). */
  get arenaBytes (): number {
    return this.#arena.bytes
  }

  /** Room for `keys` keys in all, before adding many at once (see HashIndex.reserve). */
  reserve (keys: number): void {
    this.#index.reserve(keys)
  }

  /** The slot of `key`, or -1. */
  slotOf (key: string): number {
    const handle = this.#index.find(key, hashKey(key))
    if (handle === 0) return -1
    const slot = this.#arena.slotOf(handle)
    this.#foundSlot = slot
    this.#foundHandle = handle
    return slot
  }

  /**
   * Reads the hash buckets of `keys`, then their records, each pass's reads independent of one
   * another, so their cache misses overlap instead of coming one after another in the lookups
   * that follow (two dependent misses each on a large map). At most `hashes.length` keys.
   */
  readAhead (keys: readonly string[], hashes: Uint32Array): void {
    let sum = 0
    const count = Math.min(keys.length, hashes.length)
    // The hashes first, so the loop of bucket reads is short and many of them are in flight at once.
    for (let i = 0; i < count; i++) hashes[i] = hashKey(keys[i] as string)
    for (let i = 0; i < count; i++) sum += this.#index.peek(hashes[i] as number)
    for (let i = 0; i < count; i++) {
      const handle = this.#index.candidate(hashes[i] as number)
      if (handle !== 0) sum += this.#arena.buffer(handle)[this.#arena.offset(handle)] as number
    }
    // Kept, so the compiler cannot drop reads whose values nothing uses.
    this.#readAheadSum = sum
  }

  add (key: string, stored: StoredValue, version: number, deadline: number): number {
    let slot = this.#free.pop()
    if (slot < 0) {
      slot = this.#end++
      if ((slot & SEGMENT_MASK) === 0) this.#grow()
    }
    const handle = this.#arena.create(slot, key, recordValueBytes(stored), kindOf(stored), version)
    this.#index.insert(hashKey(key), handle)
    this.#fill(slot, handle, stored, deadline)
    return slot
  }

  /**
   * As `add`, for a key restored from a part that the table does not hold, given as the `length`
   * bytes at `source[start]`, one code unit each, with its hash (hashUnits of those bytes): the
   * key is copied from the part to its record without a string or a lookup.
   */
  addNarrow (source: Uint8Array, start: number, length: number, hash: number, stored: StoredValue, version: number, deadline: number): number {
    let slot = this.#free.pop()
    if (slot < 0) {
      slot = this.#end++
      if ((slot & SEGMENT_MASK) === 0) this.#grow()
    }
    const handle = this.#arena.createNarrow(slot, source, start, length, recordValueBytes(stored), kindOf(stored), version)
    this.#index.insertLater(hash, handle)
    this.#fill(slot, handle, stored, deadline)
    return slot
  }

  /**
   * Writes the value into `handle`, a record just made for `slot` with its kind, length and
   * version: nothing to drop or resize, unlike `write`. A new slot has no deadline yet.
   */
  #fill (slot: number, handle: number, stored: StoredValue, deadline: number): void {
    this.#setHandle(slot, handle)
    this.#size++
    const arena = this.#arena
    if (typeof stored === 'number') {
      arena.setNumber(handle, stored)
    } else if (stored instanceof LiveValue) {
      const evicted = this.#live.set(slot, stored)
      if (evicted !== undefined) this.setValue(evicted[0], rawOf(evicted[1], this.#codec))
    } else if (stored.length <= INLINE_BYTES) {
      arena.buffer(handle).set(stored, arena.valueOffset(handle))
    } else {
      this.#large.set(slot, stored)
    }
    if (deadline !== 0) this.#setDeadline(slot >>> SEGMENT_BITS, slot & SEGMENT_MASK, deadline)
    arena.compact()
  }

  remove (slot: number): void {
    const handle = this.#handle(slot)
    this.#index.remove(this.#arena.hash(handle), handle)
    this.#dropHeapValue(slot, handle)
    this.#arena.free(handle)
    this.#setHandle(slot, 0)
    this.#setDeadline(slot >>> SEGMENT_BITS, slot & SEGMENT_MASK, 0)
    this.#free.push(slot)
    this.#size--
    this.#arena.compact()
  }

  write (slot: number, stored: StoredValue, version: number, deadline: number): void {
    // A number over a number of the same width (a counter's incr, a set of a count) is written
    // over the record's own bytes: nothing to drop, move or compact.
    if (typeof stored === 'number' && this.#arena.writeNumber(this.#handle(slot), NUMBER, stored, version)) {
      this.#setDeadline(slot >>> SEGMENT_BITS, slot & SEGMENT_MASK, deadline)
      return
    }
    this.setValue(slot, stored)
    this.#arena.setVersion(this.#handle(slot), version)
    this.#setDeadline(slot >>> SEGMENT_BITS, slot & SEGMENT_MASK, deadline)
  }

  setValue (slot: number, stored: StoredValue): void {
    this.#dropHeapValue(slot, this.#handle(slot))
    const handle = this.#recordFor(slot, recordValueBytes(stored))
    const arena = this.#arena
    if (typeof stored === 'number') {
      arena.setKind(handle, NUMBER)
      arena.setNumber(handle, stored)
    } else if (stored instanceof LiveValue) {
      arena.setKind(handle, LIVE)
      const evicted = this.#live.set(slot, stored)
      // The value least recently used goes back to bytes, so decoded values stay few.
      if (evicted !== undefined) this.setValue(evicted[0], rawOf(evicted[1], this.#codec))
    } else if (stored.length <= INLINE_BYTES) {
      arena.setKind(handle, BYTES)
      arena.buffer(handle).set(stored, arena.valueOffset(handle))
    } else {
      arena.setKind(handle, LARGE)
      this.#large.set(slot, stored)
    }
  }

  /**
   * The stored value: a number, a LiveValue, large bytes, or a view of small bytes in the arena
   * (valid until the next write: copy it to keep it).
   */
  value (slot: number): StoredValue {
    switch (this.#arena.kind(this.#handle(slot))) {
      case NUMBER: return this.number(slot)
      case LIVE: return this.#live.get(slot) as LiveValue
      case LARGE: return this.#large.get(slot) as Uint8Array
      default: {
        const handle = this.#handle(slot)
        const start = this.#arena.valueOffset(handle)
        return this.#arena.buffer(handle).subarray(start, start + this.#arena.valueLength(handle))
      }
    }
  }

  /** The value's encoded bytes, the caller's own. */
  raw (slot: number): Encoded {
    const handle = this.#handle(slot)
    const number = this.#arena.numberOf(handle, NUMBER)
    if (number !== undefined) return rawOf(number, this.#codec)
    const stored = this.value(slot)
    return this.#arena.kind(handle) === BYTES ? Uint8Array.prototype.slice.call(stored as Uint8Array) : rawOf(stored, this.#codec)
  }

  /** The number a NUMBER slot holds. */
  number (slot: number): number {
    return this.#arena.numberOf(this.#handle(slot), NUMBER) as number
  }

  /** The decoded value at `slot`, without keeping it decoded (a counter read by incr). */
  decoded (slot: number): unknown {
    const handle = this.#handle(slot)
    const number = this.#arena.numberOf(handle, NUMBER)
    if (number !== undefined) return number
    const kind = this.#arena.kind(handle)
    if (kind === LIVE) return (this.#live.get(slot) as LiveValue).value
    return this.#codec.decode(this.value(slot) as Uint8Array)
  }

  /** The decoded value at `slot`, kept decoded (within LiveValues' bound) for the edits that follow. */
  live (slot: number): LiveValue {
    const kind = this.#arena.kind(this.#handle(slot))
    if (kind === LIVE) {
      const live = this.#live.get(slot) as LiveValue
      this.#live.set(slot, live)
      return live
    }
    const raw = this.raw(slot)
    const live = new LiveValue(kind === NUMBER ? this.number(slot) : this.#codec.decode(raw), raw)
    this.setValue(slot, live)
    return live
  }

  key (slot: number): string {
    return this.#arena.key(this.#handle(slot))
  }

  compareKey (slot: number, key: string): number {
    return this.#arena.compareKey(this.#handle(slot), key)
  }

  /** The slot's key against the key of `length` one-unit bytes at `source[start]`. */
  compareKeyBytes (slot: number, source: Uint8Array, start: number, length: number): number {
    return this.#arena.compareKeyBytes(this.#handle(slot), source, start, length)
  }

  /** The key's length in code units. */
  keyLength (slot: number): number {
    return this.#arena.keyLength(this.#handle(slot))
  }

  /** Copies the key's bytes to `target[at]` when they are all ASCII (see KeyArena); else false. */
  copyAsciiKey (slot: number, target: Uint8Array, at: number): boolean {
    return this.#arena.copyAsciiKey(this.#handle(slot), target, at)
  }

  keyStartsWith (slot: number, prefix: string): boolean {
    return this.#arena.keyStartsWith(this.#handle(slot), prefix)
  }

  version (slot: number): number {
    return this.#arena.version(this.#handle(slot))
  }

  /** Epoch ms, or 0 for no expiry. */
  deadline (slot: number): number {
    return this.#deadlines[slot >>> SEGMENT_BITS]?.[slot & SEGMENT_MASK] ?? 0
  }

  setDeadline (slot: number, deadline: number): void {
    this.#setDeadline(slot >>> SEGMENT_BITS, slot & SEGMENT_MASK, deadline)
  }

  #handle (slot: number): number {
    if (slot === this.#foundSlot) return this.#foundHandle
    return (this.#handles[slot >>> SEGMENT_BITS] as Uint32Array)[slot & SEGMENT_MASK] as number
  }

  #setHandle (slot: number, handle: number): void {
    ;(this.#handles[slot >>> SEGMENT_BITS] as Uint32Array)[slot & SEGMENT_MASK] = handle
    if (slot === this.#foundSlot) this.#foundHandle = handle
  }

  /** The slot's record, moved to one with room for `valueBytes` when its size differs. */
  #recordFor (slot: number, valueBytes: number): number {
    const handle = this.#handle(slot)
    if (this.#arena.valueLength(handle) === valueBytes) return handle
    const moved = this.#arena.resize(handle, valueBytes)
    this.#moved(slot, handle, moved)
    this.#arena.compact()
    return moved
  }

  #moved (slot: number, from: number, to: number): void {
    this.#setHandle(slot, to)
    this.#index.replace(this.#arena.hash(to), from, to)
  }

  #dropHeapValue (slot: number, handle: number): void {
    const kind = this.#arena.kind(handle)
    if (kind === LIVE) this.#live.delete(slot)
    else if (kind === LARGE) this.#large.delete(slot)
  }

  #grow (): void {
    this.#handles.push(new Uint32Array(SEGMENT_SIZE))
    this.#deadlines.push(undefined)
  }

  #setDeadline (segment: number, offset: number, deadline: number): void {
    let deadlines = this.#deadlines[segment]
    if (deadlines === undefined) {
      if (deadline === 0) return
      deadlines = new Float64Array(SEGMENT_SIZE)
      this.#deadlines[segment] = deadlines
    }
    deadlines[offset] = deadline
  }
}

/** The kind a record holding `stored` has (see setValue). */
function kindOf (stored: StoredValue): number {
  if (typeof stored === 'number') return NUMBER
  if (stored instanceof LiveValue) return LIVE
  return stored.length <= INLINE_BYTES ? BYTES : LARGE
}

/** The value bytes a record needs for `stored`: none for a value kept on the heap. */
function recordValueBytes (stored: StoredValue): number {
  if (typeof stored === 'number') return numberBytes(stored)
  if (stored instanceof LiveValue || stored.length > INLINE_BYTES) return 0
  return stored.length
}
