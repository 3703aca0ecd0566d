import { SharedStateProtocolError } from '../../errors'
import type { ValueCodec } from '../../protocol/codec'
import { LiveValue, storedFromBytes, type StoredValue } from './stored-value'

/**
 * The entries of a map as one buffer per part, for a handover and a snapshot on disk: per entry,
 * back to back,
 *
 *   u8 head (bits 0-1: kind of value, bit 7: a deadline follows the key), varint key bytes, key
 *   (UTF-8), [f64 deadline], then by kind: 0: f64 number, 1: varint value bytes and the bytes,
 *   2: a 32-bit integer, zigzagged, as a varint
 *
 * (varints: 7 bits a byte, low first; f64 little-endian). The cells go as the host keeps them (a
 * number as a number, inline bytes as their bytes), so neither side builds an object per entry
 * nor encodes a value twice, and a small counter costs a few bytes beside its key.
 */

const KIND_NUMBER = 0
const KIND_BYTES = 1
const KIND_INTEGER = 2
const KIND_MASK = 3
const HAS_DEADLINE = 0x80
// Head, two varints of up to 5 bytes, a deadline and a number at most.
const ENTRY_HEAD_BYTES = 1 + 5 + 8 + 5 + 8
const INT32_MIN = -(2 ** 31)
const INT32_MAX = 2 ** 31 - 1

function writeVarint (buffer: Buffer, offset: number, value: number): number {
  while (value > 0x7f) {
    buffer[offset++] = (value & 0x7f) | 0x80
    value >>>= 7
  }
  buffer[offset++] = value
  return offset
}

/** The most bytes `stored` takes in a part, without encoding it. */
function valueBytes (stored: StoredValue, codec: ValueCodec): number {
  if (typeof stored === 'number') return 8
  if (stored instanceof LiveValue) {
    stored.raw ??= codec.encode(stored.value)
    return stored.raw.length
  }
  return stored.length
}

/** True when the bytes `part[start, end)` are all ASCII: a key whose UTF-8 is its code units. */
export function isAscii (part: Uint8Array, start: number, end: number): boolean {
  let all = 0
  for (let i = start; i < end; i++) all |= part[i] as number
  return all < 0x80
}

/** Where `PartWriter.addSlot` finds keys (an EntryTable): by slot, a string only when it must. */
export interface PartKeys {
  /** In UTF-16 code units. */
  keyLength: (slot: number) => number
  /** Copies the key to `target[at]` when its units are all ASCII (then its UTF-8 bytes); else false. */
  copyAsciiKey: (slot: number, target: Uint8Array, at: number) => boolean
  key: (slot: number) => string
}

/** Fills one part after the other; an entry larger than a part gets a part of its own. */
export class PartWriter {
  readonly #capacity: number
  readonly #codec: ValueCodec
  #buffer: Buffer
  #offset = 0

  constructor (capacity: number, codec: ValueCodec) {
    this.#capacity = capacity
    this.#codec = codec
    this.#buffer = Buffer.allocUnsafe(capacity)
  }

  get empty (): boolean {
    return this.#offset === 0
  }

  /** Adds the entry, or returns false when the part is too full for it (take the part first). */
  add (key: string, stored: StoredValue, deadline: number): boolean {
    const head = this.#reserve(key.length, stored)
    if (head < 0) return false
    const buffer = this.#buffer
    let offset = writeVarint(buffer, head + 1, Buffer.byteLength(key, 'utf8'))
    offset += buffer.write(key, offset, 'utf8')
    this.#offset = this.#writeValue(head, offset, stored, deadline)
    return true
  }

  /**
   * As `add`, with the key of `slot` in `keys`: an ASCII key's bytes are copied as they are kept,
   * without a string; another is written from its string.
   */
  addSlot (keys: PartKeys, slot: number, stored: StoredValue, deadline: number): boolean {
    const length = keys.keyLength(slot)
    const head = this.#reserve(length, stored)
    if (head < 0) return false
    const buffer = this.#buffer
    let offset = writeVarint(buffer, head + 1, length)
    if (keys.copyAsciiKey(slot, buffer, offset)) {
      offset += length
    } else {
      const key = keys.key(slot)
      offset = writeVarint(buffer, head + 1, Buffer.byteLength(key, 'utf8'))
      offset += buffer.write(key, offset, 'utf8')
    }
    this.#offset = this.#writeValue(head, offset, stored, deadline)
    return true
  }

  /** Where the entry's head goes, with room for it, or -1 when the part is too full for it. */
  #reserve (keyUnits: number, stored: StoredValue): number {
    const most = ENTRY_HEAD_BYTES + keyUnits * 3 + valueBytes(stored, this.#codec)
    if (this.#offset + most > this.#buffer.length) {
      if (this.#offset > 0) return -1
      this.#buffer = Buffer.allocUnsafe(most)
    }
    return this.#offset
  }

  /** Writes the deadline and the value after the key (ending at `offset`), and the head. */
  #writeValue (head: number, offset: number, stored: StoredValue, deadline: number): number {
    const buffer = this.#buffer
    let flags = 0
    if (deadline !== 0) {
      flags = HAS_DEADLINE
      offset = buffer.writeDoubleLE(deadline, offset)
    }
    if (typeof stored === 'number') {
      if (Number.isInteger(stored) && stored >= INT32_MIN && stored <= INT32_MAX && !Object.is(stored, -0)) {
        buffer[head] = flags | KIND_INTEGER
        offset = writeVarint(buffer, offset, ((stored << 1) ^ (stored >> 31)) >>> 0)
      } else {
        buffer[head] = flags | KIND_NUMBER
        offset = buffer.writeDoubleLE(stored, offset)
      }
    } else {
      buffer[head] = flags | KIND_BYTES
      const raw = stored instanceof LiveValue ? stored.raw as Uint8Array : stored
      offset = writeVarint(buffer, offset, raw.length)
      buffer.set(raw, offset)
      offset += raw.length
    }
    return offset
  }

  /**
   * The part so far, in a buffer of its own size; the writer starts a new one in the same buffer.
   * A part ended early by a cap on entries is a fraction of the capacity: a view of a fresh buffer
   * per part would keep the whole capacity alive for each.
   */
  take (): Buffer {
    const buffer = this.#buffer
    // An entry larger than the capacity had a buffer of its own size made for it: no copy.
    const oversized = buffer.length !== this.#capacity
    const part = oversized ? buffer.subarray(0, this.#offset) : Buffer.from(buffer.subarray(0, this.#offset))
    if (oversized) this.#buffer = Buffer.allocUnsafe(this.#capacity)
    this.#offset = 0
    return part
  }
}

function malformed (offset: number): Error {
  return new SharedStateProtocolError(`a handover part is malformed at byte ${offset}`)
}

/** Reads varints and values from a part, refusing to read past its end. */
class PartReader {
  readonly buffer: Buffer
  offset = 0

  constructor (part: Uint8Array) {
    this.buffer = Buffer.from(part.buffer, part.byteOffset, part.byteLength)
  }

  need (bytes: number): void {
    if (this.offset + bytes > this.buffer.length) throw malformed(this.offset)
  }

  skip (bytes: number): void {
    this.need(bytes)
    this.offset += bytes
  }

  varint (): number {
    // Most lengths and counters fit in one byte.
    const first = this.buffer[this.offset]
    if (first !== undefined && first < 0x80) {
      this.offset++
      return first
    }
    // Five bytes at most; each scales by 128 (a multiplication, not 2 ** shift: that is a call).
    let value = 0
    for (let scale = 1; scale < 2 ** 35; scale *= 128) {
      this.need(1)
      const byte = this.buffer[this.offset++] as number
      value += (byte & 0x7f) * scale
      if (byte < 0x80) return value
    }
    throw malformed(this.offset)
  }

  double (): number {
    this.need(8)
    const value = this.buffer.readDoubleLE(this.offset)
    this.offset += 8
    return value
  }
}

/**
 * What `readPartEntries` hands on per entry: the key as its UTF-8 bytes `part[keyStart, keyEnd)`
 * (no string made), the value and the deadline (0: none).
 */
export type PartEntryVisitor = (part: Buffer, keyStart: number, keyEnd: number, stored: StoredValue, deadline: number) => void

/** Calls `visit` with each entry of `part`, in the order written; throws on a malformed part. */
export function readPartEntries (part: Uint8Array, visit: PartEntryVisitor): void {
  const reader = new PartReader(part)
  const { buffer } = reader
  while (reader.offset < buffer.length) {
    const head = buffer[reader.offset++] as number
    const keyBytes = reader.varint()
    reader.need(keyBytes)
    const keyStart = reader.offset
    reader.offset += keyBytes
    const deadline = (head & HAS_DEADLINE) === 0 ? 0 : reader.double()
    const kind = head & ~HAS_DEADLINE
    if (kind > KIND_MASK) throw malformed(reader.offset)
    let stored: StoredValue
    if (kind === KIND_INTEGER) {
      const zigzag = reader.varint()
      stored = (zigzag >>> 1) ^ -(zigzag & 1)
    } else if (kind === KIND_NUMBER) {
      stored = reader.double()
    } else if (kind === KIND_BYTES) {
      const length = reader.varint()
      reader.need(length)
      stored = storedFromBytes(buffer, reader.offset, reader.offset + length)
      reader.offset += length
    } else {
      throw malformed(reader.offset - 1)
    }
    visit(buffer, keyStart, keyStart + keyBytes, stored, deadline)
  }
}

/**
 * How many entries `part` holds, stepping over each without reading its key or value (about a
 * tenth of what restoring it costs); throws on a malformed part.
 */
export function countPartEntries (part: Uint8Array): number {
  const reader = new PartReader(part)
  const { buffer } = reader
  let count = 0
  while (reader.offset < buffer.length) {
    const head = buffer[reader.offset++] as number
    reader.skip(reader.varint())
    if ((head & HAS_DEADLINE) !== 0) reader.skip(8)
    const kind = head & ~HAS_DEADLINE
    if (kind === KIND_INTEGER) reader.varint()
    else if (kind === KIND_NUMBER) reader.skip(8)
    else if (kind === KIND_BYTES) reader.skip(reader.varint())
    else throw malformed(reader.offset - 1)
    count++
  }
  return count
}

/** As `readPartEntries`, with each key as a string. */
export function readPart (part: Uint8Array, visit: (key: string, stored: StoredValue, deadline: number) => void): void {
  readPartEntries(part, (bytes, keyStart, keyEnd, stored, deadline) => visit(bytes.toString('utf8', keyStart, keyEnd), stored, deadline))
}
