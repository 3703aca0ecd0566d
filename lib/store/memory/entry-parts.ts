import { SharedStateProtocolError } from '../../errors'
import type { ValueCodec } from '../../protocol/codec'
import { LiveValue, storedFromBytes, type StoredValue } from './stored-value'

/**
 * The entries of a map as one buffer per part, for a handover: per entry, back to back,
 *
 *   u32 key bytes, key (UTF-8), f64 deadline (0: none), u8 kind,
 *   then kind 0: f64 number   kind 1: u32 value bytes, value bytes
 *
 * (little-endian). The cells go as the host keeps them (a number as a number, inline bytes as
 * their bytes), so neither side builds an object per entry nor encodes a value twice.
 */

const KIND_NUMBER = 0
const KIND_BYTES = 1
const ENTRY_HEAD_BYTES = 4 + 8 + 1 + 4

/** The most bytes `stored` takes in a part, without encoding it. */
function valueBytes (stored: StoredValue, codec: ValueCodec): number {
  if (typeof stored === 'number') return 8
  if (typeof stored === 'string') return stored.length
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
    let offset = this.#offset
    const keyBytes = buffer.write(key, offset + 4, 'utf8')
    buffer.writeUInt32LE(keyBytes, offset)
    offset = buffer.writeDoubleLE(deadline, offset + 4 + keyBytes)
    if (typeof stored === 'number') {
      buffer[offset] = KIND_NUMBER
      offset = buffer.writeDoubleLE(stored, offset + 1)
    } else {
      buffer[offset] = KIND_BYTES
      const start = offset + 5
      let length: number
      if (typeof stored === 'string') {
        length = buffer.write(stored, start, 'latin1')
      } else {
        const raw = stored instanceof LiveValue ? stored.raw as Uint8Array : stored
        buffer.set(raw, start)
        length = raw.length
      }
      buffer.writeUInt32LE(length, offset + 1)
      offset = start + length
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

/** Calls `visit` with each entry of `part`, in the order written; throws on a malformed part. */
export function readPart (part: Uint8Array, visit: (key: string, stored: StoredValue, deadline: number) => void): void {
  const buffer = Buffer.from(part.buffer, part.byteOffset, part.byteLength)
  const end = buffer.length
  let offset = 0
  while (offset < end) {
    if (offset + ENTRY_HEAD_BYTES - 4 > end) throw malformed(offset)
    const keyEnd = offset + 4 + buffer.readUInt32LE(offset)
    if (keyEnd + 9 > end) throw malformed(offset)
    const key = buffer.toString('utf8', offset + 4, keyEnd)
    const deadline = buffer.readDoubleLE(keyEnd)
    const kind = buffer[keyEnd + 8]
    offset = keyEnd + 9
    let stored: StoredValue
    if (kind === KIND_NUMBER) {
      if (offset + 8 > end) throw malformed(offset)
      stored = buffer.readDoubleLE(offset)
      offset += 8
    } else if (kind === KIND_BYTES) {
      if (offset + 4 > end) throw malformed(offset)
      const valueEnd = offset + 4 + buffer.readUInt32LE(offset)
      if (valueEnd > end) throw malformed(offset)
      stored = storedFromBytes(buffer, offset + 4, valueEnd)
      offset = valueEnd
    } else {
      throw malformed(offset)
    }
    visit(key, stored, deadline)
  }
}
