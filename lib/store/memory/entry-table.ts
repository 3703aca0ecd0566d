import type { ValueCodec } from '../../protocol/codec'
import type { Encoded } from '../store'
import { HashIndex, hashKey } from './hash-index'
import { KeyArena } from './key-arena'
import { LiveValues } from './live-values'
import { INLINE_BYTES, LiveValue, rawOf, type StoredValue } from './stored-value'

// The columns grow by whole segments, never by copying what they hold, so adding the ten
// millionth key costs what adding the first did.
const SEGMENT_BITS = 16
const SEGMENT_SIZE = 1 << SEGMENT_BITS
const SEGMENT_MASK = SEGMENT_SIZE - 1

// What a slot's value is, and where it is.
const FREE = 0
/** A number in the record's value bytes: an int32 in 4 of them, any other as a float64 in 8. */
const NUMBER = 1
/** Encoded bytes of at most INLINE_BYTES, in the record. */
const BYTES = 2
/** Larger encoded bytes, as their own Uint8Array. */
const LARGE = 3
/** A decoded value, in the bounded LiveValues. */
const LIVE = 4
const INT32_BYTES = 4
const FLOAT64_BYTES = 8

/**
 * The host's entries, one slot each, with no heap object per key: each key and its small value
 * are a record in a KeyArena; a HashIndex finds a key's slot; per slot, typed-array columns hold
 * the record's handle, the key's hash, the version (32 bits: see MemoryState's clock), the kind
 * of value and (in segments where a key has one) the deadline. Large values and a bounded set of
 * decoded ones live on the heap, by slot. A freed slot is reused by the next key added.
 */
export class EntryTable {
  readonly #codec: ValueCodec
  readonly #arena = new KeyArena({
    handleOf: (slot) => this.#kind(slot) === FREE ? -1 : this.#handle(slot),
    moved: (slot, handle) => { (this.#handles[slot >>> SEGMENT_BITS] as Uint32Array)[slot & SEGMENT_MASK] = handle }
  })

  readonly #handles: Uint32Array[] = []
  readonly #hashes: Uint32Array[] = []
  readonly #index = new HashIndex(this.#hashes, (slot, key) => this.#arena.keyEquals(this.#handle(slot), key))
  readonly #versions: Uint32Array[] = []
  readonly #kinds: Uint8Array[] = []
  /** A segment's deadlines exist once one of its keys has one: a map without ttls has none. */
  readonly #deadlines: Array<Float64Array | undefined> = []
  readonly #large = new Map<number, Uint8Array>()
  readonly #live = new LiveValues()
  /** Free slots are a list threaded through the handle column, so freeing millions costs no heap. */
  #firstFree = -1
  #end = 0
  #size = 0

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

  /** The slot of `key`, or -1. */
  slotOf (key: string): number {
    return this.#index.find(key, hashKey(key))
  }

  add (key: string, stored: StoredValue, version: number, deadline: number): number {
    let slot = this.#firstFree
    if (slot >= 0) this.#firstFree = this.#handle(slot) - 1
    else {
      slot = this.#end++
      if ((slot & SEGMENT_MASK) === 0) this.#grow()
    }
    const segment = slot >>> SEGMENT_BITS
    const offset = slot & SEGMENT_MASK
    const hash = hashKey(key)
    ;(this.#hashes[segment] as Uint32Array)[offset] = hash
    ;(this.#handles[segment] as Uint32Array)[offset] = this.#arena.create(slot, key, recordValueBytes(stored))
    // A kind other than FREE before the value is written: the record is the slot's already.
    ;(this.#kinds[segment] as Uint8Array)[offset] = LARGE
    this.#index.insert(hash, slot)
    this.#size++
    this.write(slot, stored, version, deadline)
    return slot
  }

  remove (slot: number): void {
    const segment = slot >>> SEGMENT_BITS
    const offset = slot & SEGMENT_MASK
    this.#index.remove((this.#hashes[segment] as Uint32Array)[offset] as number, slot)
    this.#dropHeapValue(slot)
    this.#arena.free(this.#handle(slot))
    ;(this.#kinds[segment] as Uint8Array)[offset] = FREE
    ;(this.#handles[segment] as Uint32Array)[offset] = this.#firstFree + 1
    this.#setDeadline(segment, offset, 0)
    this.#firstFree = slot
    this.#size--
  }

  write (slot: number, stored: StoredValue, version: number, deadline: number): void {
    const segment = slot >>> SEGMENT_BITS
    const offset = slot & SEGMENT_MASK
    this.setValue(slot, stored)
    ;(this.#versions[segment] as Uint32Array)[offset] = version
    this.#setDeadline(segment, offset, deadline)
  }

  setValue (slot: number, stored: StoredValue): void {
    this.#dropHeapValue(slot)
    const handle = this.#recordFor(slot, recordValueBytes(stored))
    const kinds = this.#kinds[slot >>> SEGMENT_BITS] as Uint8Array
    const offset = slot & SEGMENT_MASK
    if (typeof stored === 'number') {
      kinds[offset] = NUMBER
      const buffer = this.#arena.buffer(handle)
      const at = this.#arena.valueOffset(handle)
      if (this.#arena.valueLength(handle) === INT32_BYTES) buffer.writeInt32LE(stored, at)
      else buffer.writeDoubleLE(stored, at)
    } else if (stored instanceof LiveValue) {
      kinds[offset] = LIVE
      const evicted = this.#live.set(slot, stored)
      // The value least recently used goes back to bytes, so decoded values stay few.
      if (evicted !== undefined) this.setValue(evicted[0], rawOf(evicted[1], this.#codec))
    } else if (stored.length <= INLINE_BYTES) {
      kinds[offset] = BYTES
      this.#arena.buffer(handle).set(stored, this.#arena.valueOffset(handle))
    } else {
      kinds[offset] = LARGE
      this.#large.set(slot, stored)
    }
  }

  /**
   * The stored value: a number, a LiveValue, large bytes, or a view of small bytes in the arena
   * (valid until the next write: copy it to keep it).
   */
  value (slot: number): StoredValue {
    switch (this.#kind(slot)) {
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
    const stored = this.value(slot)
    return this.#kind(slot) === BYTES ? Uint8Array.prototype.slice.call(stored as Uint8Array) : rawOf(stored, this.#codec)
  }

  isNumber (slot: number): boolean {
    return this.#kind(slot) === NUMBER
  }

  /** The number a NUMBER slot holds. */
  number (slot: number): number {
    const handle = this.#handle(slot)
    const buffer = this.#arena.buffer(handle)
    const at = this.#arena.valueOffset(handle)
    return this.#arena.valueLength(handle) === INT32_BYTES ? buffer.readInt32LE(at) : buffer.readDoubleLE(at)
  }

  /** The decoded value at `slot`, without keeping it decoded (a counter read by incr). */
  decoded (slot: number): unknown {
    const kind = this.#kind(slot)
    if (kind === NUMBER) return this.number(slot)
    if (kind === LIVE) return (this.#live.get(slot) as LiveValue).value
    return this.#codec.decode(this.value(slot) as Uint8Array)
  }

  /** The decoded value at `slot`, kept decoded (within LiveValues' bound) for the edits that follow. */
  live (slot: number): LiveValue {
    const kind = this.#kind(slot)
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

  keyStartsWith (slot: number, prefix: string): boolean {
    return this.#arena.keyStartsWith(this.#handle(slot), prefix)
  }

  version (slot: number): number {
    return (this.#versions[slot >>> SEGMENT_BITS] as Uint32Array)[slot & SEGMENT_MASK] as number
  }

  /** Epoch ms, or 0 for no expiry. */
  deadline (slot: number): number {
    return this.#deadlines[slot >>> SEGMENT_BITS]?.[slot & SEGMENT_MASK] ?? 0
  }

  setDeadline (slot: number, deadline: number): void {
    this.#setDeadline(slot >>> SEGMENT_BITS, slot & SEGMENT_MASK, deadline)
  }

  #kind (slot: number): number {
    return (this.#kinds[slot >>> SEGMENT_BITS] as Uint8Array)[slot & SEGMENT_MASK] as number
  }

  #handle (slot: number): number {
    return (this.#handles[slot >>> SEGMENT_BITS] as Uint32Array)[slot & SEGMENT_MASK] as number
  }

  /** The slot's record, moved to one with room for `valueBytes` when its size differs. */
  #recordFor (slot: number, valueBytes: number): number {
    const handle = this.#handle(slot)
    if (this.#arena.valueLength(handle) === valueBytes) return handle
    const moved = this.#arena.resize(handle, valueBytes)
    ;(this.#handles[slot >>> SEGMENT_BITS] as Uint32Array)[slot & SEGMENT_MASK] = moved
    return moved
  }

  #dropHeapValue (slot: number): void {
    const kind = this.#kind(slot)
    if (kind === LIVE) this.#live.delete(slot)
    else if (kind === LARGE) this.#large.delete(slot)
  }

  #grow (): void {
    this.#handles.push(new Uint32Array(SEGMENT_SIZE))
    this.#hashes.push(new Uint32Array(SEGMENT_SIZE))
    this.#versions.push(new Uint32Array(SEGMENT_SIZE))
    this.#kinds.push(new Uint8Array(SEGMENT_SIZE))
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

/** The value bytes a record needs for `stored`: none for a value kept on the heap. */
function recordValueBytes (stored: StoredValue): number {
  if (typeof stored === 'number') return (stored | 0) === stored && !Object.is(stored, -0) ? INT32_BYTES : FLOAT64_BYTES
  if (stored instanceof LiveValue || stored.length > INLINE_BYTES) return 0
  return stored.length
}
