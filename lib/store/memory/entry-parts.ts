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
    const most = ENTRY_HEAD_BYTES + key.length * 3 + valueBytes(stored, this.#codec)
    if (this.#offset + most > this.#buffer.length) {
      if (this.#offset > 0) return false
      this.#buffer = Buffer.allocUnsafe(most)
    }
    const buffer = this.#buffer
    const head = this.#offset
    const keyBytes = Buffer.byteLength(key, 'utf8')
    let offset = writeVarint(buffer, head + 1, keyBytes)
    offset += buffer.write(key, offset, 'utf8')
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
    this.#offset = offset
    return true
  }

  /** The part so far; the writer starts a new one. */
  take (): Buffer {
    const part = this.#buffer.subarray(0, this.#offset)
    this.#buffer = Buffer.allocUnsafe(this.#capacity)
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

  varint (): number {
    // Most lengths and counters fit in one byte.
    const first = this.buffer[this.offset]
    if (first !== undefined && first < 0x80) {
      this.offset++
      return first
    }
    let value = 0
    for (let shift = 0; shift < 35; shift += 7) {
      this.need(1)
      const byte = this.buffer[this.offset++] as number
      value += (byte & 0x7f) * 2 ** shift
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

/** Calls `visit` with each entry of `part`, in the order written; throws on a malformed part. */
export function readPart (part: Uint8Array, visit: (key: string, stored: StoredValue, deadline: number) => void): void {
  const reader = new PartReader(part)
  const { buffer } = reader
  while (reader.offset < buffer.length) {
    const head = buffer[reader.offset++] as number
    const keyBytes = reader.varint()
    reader.need(keyBytes)
    const key = buffer.toString('utf8', reader.offset, reader.offset + keyBytes)
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
    visit(key, stored, deadline)
  }
}
