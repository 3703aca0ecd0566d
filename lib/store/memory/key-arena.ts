import { hashUnits } from './key-hash'

// Records are cut from chunks of this many bytes, allocated as needed; a record larger than a
// chunk gets a chunk of its own size. A chunk is one external allocation, not a heap object per
// key, so the garbage collector never walks the keys.
const CHUNK_BITS = 20
const CHUNK_BYTES = 1 << CHUNK_BITS
// Records start at multiples of 4 bytes, so a 32-bit handle (chunk, offset / 4) reaches 16 GiB.
const UNIT_SHIFT = 2
const UNIT_MASK = (1 << UNIT_SHIFT) - 1
const OFFSET_BITS = CHUNK_BITS - UNIT_SHIFT
const OFFSET_UNITS = 1 << OFFSET_BITS
const OFFSET_MASK = OFFSET_UNITS - 1
const MAX_CHUNKS = 2 ** 32 / OFFSET_UNITS
// The first unit of chunk 0 holds no record, so no record has handle 0: 0 can mean "none".
const RESERVED_BYTES = 1 << UNIT_SHIFT
// u32 slot, u32 version, u16 value bytes (low 13 bits) and kind of value (high 3 bits), u16 key
// meta (its length in code units * 2, + 1 when they are UTF-16), then the key, then the value
// bytes. A key of 32,767 units or more has LONG_META there and its meta as a u32 after it.
const HEADER_BYTES = 12
const VERSION_AT = 4
const INFO_AT = 8
const META_AT = 10
const LONG_META = 0xffff
const LENGTH_BITS = 13
const LENGTH_MASK = (1 << LENGTH_BITS) - 1
const INT32_BYTES = 4
const FLOAT64_BYTES = 8
// Keys up to this many code units are copied in a loop, longer ones by the native encoder.
const SHORT_KEY = 64
// Records moved out of chunks being compacted per call of `compact` (once per write): more than
// one, so compaction outpaces the garbage writes make. Dead records passed over count too, up to
// VISITS_PER_WRITE, so a chunk of many small dead records is not crossed in one call.
const MOVES_PER_WRITE = 4
const VISITS_PER_WRITE = 256

/** Whose records these are: the slot that holds a record, and where it moved. */
export interface ArenaOwner {
  /** The handle slot `slot` holds (0 when the slot is free). */
  handleOf: (slot: number) => number
  moved: (slot: number, from: number, to: number) => void
}

/** True when every code unit of `key` fits in a byte. */
function isNarrow (key: string): boolean {
  for (let i = 0; i < key.length; i++) if (key.charCodeAt(i) > 0xff) return false
  return true
}

/** The u32 at `start + 4`: the key's length in code units * 2, + 1 when they are UTF-16. */
function metaAt (buffer: Buffer, start: number): number {
  const meta = (buffer[start + META_AT] as number) | ((buffer[start + META_AT + 1] as number) << 8)
  return meta !== LONG_META ? meta : u32At(buffer, start + HEADER_BYTES)
}

/** Where the key of the record at `start` begins. */
function keyFrom (buffer: Buffer, start: number): number {
  const long = buffer[start + META_AT] === 0xff && buffer[start + META_AT + 1] === 0xff
  return start + HEADER_BYTES + (long ? 4 : 0)
}

/** The header bytes of a record whose key has `meta`. */
function headerFor (meta: number): number {
  return meta < LONG_META ? HEADER_BYTES : HEADER_BYTES + 4
}

function u32At (buffer: Buffer, at: number): number {
  return ((buffer[at] as number) | ((buffer[at + 1] as number) << 8) | ((buffer[at + 2] as number) << 16) | ((buffer[at + 3] as number) << 24)) >>> 0
}

function writeU32 (buffer: Buffer, at: number, value: number): void {
  buffer[at] = value
  buffer[at + 1] = value >>> 8
  buffer[at + 2] = value >>> 16
  buffer[at + 3] = value >>> 24
}

/** Writes number `value` at `at` in `width` bytes (INT32_BYTES or FLOAT64_BYTES: see numberBytes). */
function writeNumberAt (buffer: Buffer, at: number, width: number, value: number): void {
  // Four byte stores for an int32, where Buffer#writeInt32LE checks its arguments first.
  if (width === INT32_BYTES) writeU32(buffer, at, value)
  else buffer.writeDoubleLE(value, at)
}

function int32At (buffer: Buffer, at: number): number {
  return (buffer[at] as number) | ((buffer[at + 1] as number) << 8) | ((buffer[at + 2] as number) << 16) | ((buffer[at + 3] as number) << 24)
}

/**
 * The value bytes a number takes in a record: 4 for an int32 (not -0, which an int32 cannot
 * hold), 8 for any other, as a float64.
 */
export function numberBytes (value: number): number {
  return (value | 0) === value && !Object.is(value, -0) ? INT32_BYTES : FLOAT64_BYTES
}

function infoAt (buffer: Buffer, start: number): number {
  return (buffer[start + INFO_AT] as number) | ((buffer[start + INFO_AT + 1] as number) << 8)
}

function writeInfo (buffer: Buffer, start: number, info: number): void {
  buffer[start + INFO_AT] = info
  buffer[start + INFO_AT + 1] = info >>> 8
}

function align (bytes: number): number {
  return (bytes + UNIT_MASK) & ~UNIT_MASK
}

/**
 * Records of a key and a small value, in ArrayBuffer chunks, each found by a numeric handle. A
 * record holds the slot that owns it, the owner's version and kind of value, the key (one byte
 * per code unit when every unit is below 256, else two) and up to LENGTH_MASK (8,191) value
 * bytes. A freed record's bytes are counted dead
 * in their chunk; a chunk that is mostly dead is compacted a few records per write (its live
 * records move to the newest chunk and their slots learn the new handles), then released.
 */
export class KeyArena {
  readonly #owner: ArenaOwner
  readonly #chunks: Array<Buffer | undefined> = []
  readonly #used: number[] = []
  readonly #dead: number[] = []
  readonly #releasedChunks: number[] = []
  #current = -1
  /** Chunks to compact, oldest first, and how far into the first one compaction is. */
  readonly #compacting: number[] = []
  #cursor = 0

  constructor (owner: ArenaOwner) {
    this.#owner = owner
  }

  /** Bytes held in chunks, live and dead. */
  get bytes (): number {
    let total = 0
    for (const chunk of this.#chunks) total += chunk?.length ?? 0
    return total
  }

  /**
   * A new record for `slot` and `key`, of the owner's `kind` and at `version`, with room for
   * `valueLength` value bytes (left unwritten).
   */
  create (slot: number, key: string, valueLength: number, kind = 0, version = 0): number {
    const narrow = isNarrow(key)
    const meta = key.length * 2 + (narrow ? 0 : 1)
    const handle = this.#newRecord(slot, meta, narrow ? key.length : 2 * key.length, valueLength, kind, version)
    const buffer = this.buffer(handle)
    const from = keyFrom(buffer, this.offset(handle))
    // A short key is copied unit by unit: cheaper than a call into the native encoder.
    if (!narrow || key.length > SHORT_KEY) buffer.write(key, from, narrow ? 'latin1' : 'utf16le')
    else for (let i = 0; i < key.length; i++) buffer[from + i] = key.charCodeAt(i)
    return handle
  }

  /**
   * A new record with the slot, key, version and kind of `handle` and room for `valueLength`
   * bytes; `handle` is freed.
   */
  resize (handle: number, valueLength: number): number {
    const source = this.buffer(handle)
    const from = this.offset(handle)
    const keyEnd = keyFrom(source, from) + this.#keyBytes(handle)
    const moved = this.#allocate(keyEnd - from + valueLength)
    const target = this.buffer(moved)
    const to = this.offset(moved)
    source.copy(target, to, from, keyEnd)
    writeInfo(target, to, (infoAt(target, to) & ~LENGTH_MASK) | valueLength)
    this.free(handle)
    return moved
  }

  /** Counts the record's bytes dead; a chunk with nothing live left is released at once. */
  free (handle: number): void {
    const chunk = handle >>> OFFSET_BITS
    const dead = (this.#dead[chunk] as number) + align(this.recordBytes(handle))
    this.#dead[chunk] = dead
    if (chunk === this.#current) return
    const used = this.#used[chunk] as number
    if (dead + this.#base(chunk) === used) this.#release(chunk)
    else if (dead * 2 > used && !this.#compacting.includes(chunk)) this.#compacting.push(chunk)
  }

  /** The chunk a record is in (valid until the next write to the arena). */
  buffer (handle: number): Buffer {
    return this.#chunks[handle >>> OFFSET_BITS] as Buffer
  }

  /** Where the record starts in its chunk. */
  offset (handle: number): number {
    return (handle & OFFSET_MASK) << UNIT_SHIFT
  }

  valueOffset (handle: number): number {
    return keyFrom(this.buffer(handle), this.offset(handle)) + this.#keyBytes(handle)
  }

  valueLength (handle: number): number {
    return infoAt(this.buffer(handle), this.offset(handle)) & LENGTH_MASK
  }

  /** The slot that owns the record. */
  slotOf (handle: number): number {
    return u32At(this.buffer(handle), this.offset(handle))
  }

  version (handle: number): number {
    return u32At(this.buffer(handle), this.offset(handle) + VERSION_AT)
  }

  setVersion (handle: number, version: number): void {
    writeU32(this.buffer(handle), this.offset(handle) + VERSION_AT, version)
  }

  /** The owner's kind of value, 0-7 (0 in a new record). */
  kind (handle: number): number {
    return infoAt(this.buffer(handle), this.offset(handle)) >>> LENGTH_BITS
  }

  setKind (handle: number, kind: number): void {
    const buffer = this.buffer(handle)
    const start = this.offset(handle)
    writeInfo(buffer, start, (infoAt(buffer, start) & LENGTH_MASK) | (kind << LENGTH_BITS))
  }

  /** The key's hash, as hashKey makes it of the key as a string. */
  hash (handle: number): number {
    const buffer = this.buffer(handle)
    const start = this.offset(handle)
    const meta = metaAt(buffer, start)
    return hashUnits(buffer, keyFrom(buffer, start), meta >>> 1, (meta & 1) === 1)
  }

  recordBytes (handle: number): number {
    return this.valueOffset(handle) - this.offset(handle) + this.valueLength(handle)
  }

  /** The key's length in code units. */
  keyLength (handle: number): number {
    return metaAt(this.buffer(handle), this.offset(handle)) >>> 1
  }

  /** True when the key is kept one byte per code unit. */
  isNarrowKey (handle: number): boolean {
    return (metaAt(this.buffer(handle), this.offset(handle)) & 1) === 0
  }

  key (handle: number): string {
    const buffer = this.buffer(handle)
    const start = this.offset(handle)
    const meta = metaAt(buffer, start)
    const from = keyFrom(buffer, start)
    return buffer.toString((meta & 1) === 0 ? 'latin1' : 'utf16le', from, from + ((meta >>> 1) << (meta & 1)))
  }

  /** The record's key against `key`, by UTF-16 code unit: negative, 0 or positive. */
  compareKey (handle: number, key: string): number {
    const buffer = this.buffer(handle)
    const start = this.offset(handle)
    const meta = metaAt(buffer, start)
    const length = meta >>> 1
    const common = length < key.length ? length : key.length
    const from = keyFrom(buffer, start)
    if ((meta & 1) === 0) {
      for (let i = 0; i < common; i++) {
        const difference = (buffer[from + i] as number) - key.charCodeAt(i)
        if (difference !== 0) return difference
      }
    } else {
      for (let i = 0; i < common; i++) {
        const unit = (buffer[from + 2 * i] as number) | ((buffer[from + 2 * i + 1] as number) << 8)
        const difference = unit - key.charCodeAt(i)
        if (difference !== 0) return difference
      }
    }
    return length - key.length
  }

  /**
   * True when the record's key is `key`. The hash index asks this on every hit: the meta is read
   * once and a short key compared in place, not through keyLength and compareKey.
   */
  keyEquals (handle: number, key: string): boolean {
    const buffer = this.#chunks[handle >>> OFFSET_BITS] as Buffer
    const start = (handle & OFFSET_MASK) << UNIT_SHIFT
    const meta = (buffer[start + META_AT] as number) | ((buffer[start + META_AT + 1] as number) << 8)
    if (meta === LONG_META) return this.keyLength(handle) === key.length && this.compareKey(handle, key) === 0
    if (meta >>> 1 !== key.length) return false
    const from = start + HEADER_BYTES
    if ((meta & 1) === 0) {
      for (let i = 0; i < key.length; i++) if (buffer[from + i] !== key.charCodeAt(i)) return false
    } else {
      for (let i = 0; i < key.length; i++) {
        if (((buffer[from + 2 * i] as number) | ((buffer[from + 2 * i + 1] as number) << 8)) !== key.charCodeAt(i)) return false
      }
    }
    return true
  }

  /**
   * The number held in the value bytes of a record of kind `kind` (an int32 in 4 of them, else a
   * float64 in 8), or undefined when the record is of another kind. One read of the header for
   * kind, width and key length, where kind, valueOffset and valueLength would each read it again.
   */
  numberOf (handle: number, kind: number): number | undefined {
    const buffer = this.#chunks[handle >>> OFFSET_BITS] as Buffer
    const start = (handle & OFFSET_MASK) << UNIT_SHIFT
    const info = infoAt(buffer, start)
    if (info >>> LENGTH_BITS !== kind) return undefined
    const at = this.#valueAt(buffer, start)
    return (info & LENGTH_MASK) === INT32_BYTES ? int32At(buffer, at) : buffer.readDoubleLE(at)
  }

  /**
   * Writes number `value` and `version` over the record's own when it is of kind `kind` and its
   * value bytes are the width `value` needs (INT32_BYTES or FLOAT64_BYTES: see numberBytes): the
   * common update of a counter, with no new record, nothing freed and nothing to compact. False,
   * and nothing written, otherwise.
   */
  writeNumber (handle: number, kind: number, value: number, version: number): boolean {
    const buffer = this.#chunks[handle >>> OFFSET_BITS] as Buffer
    const start = (handle & OFFSET_MASK) << UNIT_SHIFT
    const info = infoAt(buffer, start)
    const width = numberBytes(value)
    if (info >>> LENGTH_BITS !== kind || (info & LENGTH_MASK) !== width) return false
    writeNumberAt(buffer, this.#valueAt(buffer, start), width, value)
    writeU32(buffer, start + VERSION_AT, version)
    return true
  }

  /** Writes number `value` into the record's value bytes, in the width they were made for. */
  setNumber (handle: number, value: number): void {
    const buffer = this.#chunks[handle >>> OFFSET_BITS] as Buffer
    const start = (handle & OFFSET_MASK) << UNIT_SHIFT
    writeNumberAt(buffer, this.#valueAt(buffer, start), infoAt(buffer, start) & LENGTH_MASK, value)
  }

  /** Where the value bytes of the record at `start` begin. */
  #valueAt (buffer: Buffer, start: number): number {
    const meta = (buffer[start + META_AT] as number) | ((buffer[start + META_AT + 1] as number) << 8)
    if (meta !== LONG_META) return start + HEADER_BYTES + ((meta >>> 1) << (meta & 1))
    const long = u32At(buffer, start + HEADER_BYTES)
    return start + HEADER_BYTES + 4 + ((long >>> 1) << (long & 1))
  }

  keyStartsWith (handle: number, prefix: string): boolean {
    const buffer = this.buffer(handle)
    const start = this.offset(handle)
    const meta = metaAt(buffer, start)
    if (meta >>> 1 < prefix.length) return false
    const from = keyFrom(buffer, start)
    if ((meta & 1) === 0) {
      for (let i = 0; i < prefix.length; i++) if (buffer[from + i] !== prefix.charCodeAt(i)) return false
    } else {
      for (let i = 0; i < prefix.length; i++) {
        if (((buffer[from + 2 * i] as number) | ((buffer[from + 2 * i + 1] as number) << 8)) !== prefix.charCodeAt(i)) return false
      }
    }
    return true
  }

  /**
   * A new record for `slot` whose key is the `length` bytes at `source[start]`, one code unit
   * each (a key restored from a part: no string is made of it), with room for `valueLength` value
   * bytes (left unwritten).
   */
  createNarrow (slot: number, source: Uint8Array, start: number, length: number, valueLength: number, kind = 0, version = 0): number {
    const handle = this.#newRecord(slot, length * 2, length, valueLength, kind, version)
    const buffer = this.buffer(handle)
    const from = keyFrom(buffer, this.offset(handle))
    if (length > SHORT_KEY) buffer.set(source.subarray(start, start + length), from)
    else for (let i = 0; i < length; i++) buffer[from + i] = source[start + i] as number
    return handle
  }

  /** The record's key against the key of `length` one-unit bytes at `source[start]`, by code unit. */
  compareKeyBytes (handle: number, source: Uint8Array, start: number, length: number): number {
    const buffer = this.buffer(handle)
    const at = this.offset(handle)
    const meta = metaAt(buffer, at)
    const units = meta >>> 1
    const common = units < length ? units : length
    const from = keyFrom(buffer, at)
    if ((meta & 1) === 0) {
      for (let i = 0; i < common; i++) {
        const difference = (buffer[from + i] as number) - (source[start + i] as number)
        if (difference !== 0) return difference
      }
    } else {
      for (let i = 0; i < common; i++) {
        const difference = ((buffer[from + 2 * i] as number) | ((buffer[from + 2 * i + 1] as number) << 8)) - (source[start + i] as number)
        if (difference !== 0) return difference
      }
    }
    return units - length
  }

  /**
   * Copies the key to `target[at]` when every code unit is below 0x80, so its bytes are its UTF-8
   * as well (a part takes it without a string); false, with `target` written or not, otherwise.
   */
  copyAsciiKey (handle: number, target: Uint8Array, at: number): boolean {
    const buffer = this.buffer(handle)
    const start = this.offset(handle)
    const meta = metaAt(buffer, start)
    if ((meta & 1) === 1) return false
    const from = keyFrom(buffer, start)
    const length = meta >>> 1
    let all = 0
    for (let i = 0; i < length; i++) {
      const unit = buffer[from + i] as number
      target[at + i] = unit
      all |= unit
    }
    return all < 0x80
  }

  /**
   * Allocates a record for `slot` whose key has `meta` (code units x 2, +1 when two bytes each)
   * and takes `keyBytes`, and writes its header; the key and the value are the caller's to write.
   */
  #newRecord (slot: number, meta: number, keyBytes: number, valueLength: number, kind: number, version: number): number {
    const handle = this.#allocate(headerFor(meta) + keyBytes + valueLength)
    const buffer = this.buffer(handle)
    const start = this.offset(handle)
    writeU32(buffer, start, slot)
    writeU32(buffer, start + VERSION_AT, version)
    writeInfo(buffer, start, valueLength | (kind << LENGTH_BITS))
    const short = Math.min(meta, LONG_META)
    buffer[start + META_AT] = short
    buffer[start + META_AT + 1] = short >>> 8
    if (short === LONG_META) writeU32(buffer, start + HEADER_BYTES, meta)
    return handle
  }

  #keyBytes (handle: number): number {
    const meta = metaAt(this.buffer(handle), this.offset(handle))
    return (meta >>> 1) << (meta & 1)
  }

  #allocate (bytes: number): number {
    const size = align(bytes)
    let chunk = this.#current
    if (chunk < 0 || (this.#used[chunk] as number) + size > CHUNK_BYTES) chunk = this.#newChunk(size)
    const offset = this.#used[chunk] as number
    this.#used[chunk] = offset + size
    return (chunk * OFFSET_UNITS + (offset >>> UNIT_SHIFT)) >>> 0
  }

  /** A fresh chunk for a record of `size` bytes: the next current one, or its own when oversized. */
  #newChunk (size: number): number {
    const chunk = this.#releasedChunks.pop() ?? this.#chunks.length
    if (chunk >= MAX_CHUNKS) throw new RangeError('the map holds more key bytes than its handles reach')
    const base = this.#base(chunk)
    this.#chunks[chunk] = Buffer.allocUnsafeSlow(Math.max(CHUNK_BYTES, size + base))
    this.#used[chunk] = base
    this.#dead[chunk] = 0
    if (size + base > CHUNK_BYTES) return chunk
    const previous = this.#current
    this.#current = chunk
    // The chunk that was current is a chunk like any other now: freed already, or due for compaction.
    if (previous >= 0 && this.#chunks[previous] !== undefined) {
      const dead = this.#dead[previous] as number
      const used = this.#used[previous] as number
      if (dead + this.#base(previous) === used) this.#release(previous)
      else if (dead * 2 > used) this.#compacting.push(previous)
    }
    return chunk
  }

  #release (chunk: number): void {
    this.#chunks[chunk] = undefined
    this.#used[chunk] = 0
    this.#dead[chunk] = 0
    this.#releasedChunks.push(chunk)
    const queued = this.#compacting.indexOf(chunk)
    if (queued >= 0) this.#compacting.splice(queued, 1)
    if (queued === 0) this.#cursor = 0
  }

  /** Bytes at the start of `chunk` that hold no record. */
  #base (chunk: number): number {
    return chunk === 0 ? RESERVED_BYTES : 0
  }

  /**
   * Moves a few live records out of the oldest chunk being compacted. The owner calls it after
   * each write, once its own columns name the records it holds (a record being replaced must not
   * move in between).
   */
  compact (): void {
    for (let moves = 0, visits = 0; moves < MOVES_PER_WRITE && visits < VISITS_PER_WRITE && this.#compacting.length > 0; visits++) {
      const chunk = this.#compacting[0] as number
      const buffer = this.#chunks[chunk] as Buffer
      this.#cursor = Math.max(this.#cursor, this.#base(chunk))
      if (this.#cursor >= (this.#used[chunk] as number)) {
        this.#release(chunk)
        continue
      }
      const handle = (chunk * OFFSET_UNITS + (this.#cursor >>> UNIT_SHIFT)) >>> 0
      const bytes = this.recordBytes(handle)
      this.#cursor += align(bytes)
      const slot = u32At(buffer, this.offset(handle))
      if (this.#owner.handleOf(slot) !== handle) continue
      const moved = this.#allocate(bytes)
      buffer.copy(this.buffer(moved), this.offset(moved), this.offset(handle), this.offset(handle) + bytes)
      this.#dead[chunk] = (this.#dead[chunk] as number) + align(bytes)
      this.#owner.moved(slot, handle, moved)
      moves++
    }
  }
}
