import type { ValueCodec } from '../../protocol/codec'
import type { Encoded } from '../store'

/**
 * A value the host decoded to work inside it (a nested edit, a non-inline number), with its
 * bytes once they are needed again.
 */
export class LiveValue {
  value: unknown
  raw: Encoded | undefined

  constructor (value: unknown, raw: Encoded | undefined) {
    this.value = value
    this.raw = raw
  }
}

/**
 * A value as the host hands it to its EntryTable, which keeps each kind as cheaply as it can:
 * - a number, as the number itself: incr needs no decoding;
 * - encoded bytes: up to INLINE_BYTES beside the key in the arena, larger ones as they are
 *   (their own size dwarfs the object around them);
 * - a decoded value, as a LiveValue.
 */
export type StoredValue = number | Uint8Array | LiveValue

/** The most encoded bytes kept beside their key. */
export const INLINE_BYTES = 4096

/** The number `raw` encodes, for the number formats the codec writes and reads back the same. */
function numberOf (raw: Encoded): number | undefined {
  const head = raw[0] as number
  const length = raw.length
  if (head <= 0x7f) return length === 1 ? head : undefined
  if (head >= 0xe0) return length === 1 ? head - 0x100 : undefined
  // Read byte by byte: a DataView per value costs more than the read.
  const b1 = raw[1] as number
  switch (head) {
    case 0xcb: return length === 9 ? new DataView(raw.buffer, raw.byteOffset, length).getFloat64(1) : undefined
    case 0xcc: return length === 2 ? b1 : undefined
    case 0xcd: return length === 3 ? (b1 << 8) | (raw[2] as number) : undefined
    case 0xce: return length === 5 ? ((b1 << 24) | ((raw[2] as number) << 16) | ((raw[3] as number) << 8) | (raw[4] as number)) >>> 0 : undefined
    case 0xd0: return length === 2 ? (b1 << 24) >> 24 : undefined
    case 0xd1: return length === 3 ? (((b1 << 8) | (raw[2] as number)) << 16) >> 16 : undefined
    case 0xd2: return length === 5 ? (b1 << 24) | ((raw[2] as number) << 16) | ((raw[3] as number) << 8) | (raw[4] as number) : undefined
    default: return undefined
  }
}

/** What to keep for bytes a client sent. */
export function storedFromRaw (raw: Encoded): StoredValue {
  if (raw.length === 0) return raw
  return numberOf(raw) ?? raw
}

/**
 * What to keep for the bytes `buffer[start, end)` of a handover part, which are stored bytes
 * already (not a number): inline ones as a view (the table copies them beside their key), larger
 * ones copied, so the part can go.
 */
export function storedFromBytes (buffer: Buffer, start: number, end: number): StoredValue {
  if (end - start > INLINE_BYTES) return Uint8Array.prototype.slice.call(buffer, start, end)
  return buffer.subarray(start, end)
}

/** What to keep for a value the host computed. */
export function storedFromLive (value: unknown): StoredValue {
  return typeof value === 'number' ? value : new LiveValue(value, undefined)
}

const INT32_MIN = -(2 ** 31)
const UINT32_END = 2 ** 32

/**
 * A number kept as its smallest MessagePack integer form (as the codec writes it): an integer of
 * 32 bits, signed or not. Its bytes are made here, without the codec, because a counter's new
 * value is encoded on every incr that is logged or watched.
 */
export function isSmallInteger (value: number): boolean {
  return Number.isInteger(value) && value >= INT32_MIN && value < UINT32_END && !Object.is(value, -0)
}

/** The length of the MessagePack form of a small integer (see isSmallInteger). */
export function integerLength (value: number): number {
  if (value >= 0) return value < 0x80 ? 1 : value < 0x100 ? 2 : value < 0x10000 ? 3 : 5
  return value >= -32 ? 1 : value >= -0x80 ? 2 : value >= -0x8000 ? 3 : 5
}

/** Writes the MessagePack form of a small integer at `offset`; returns where it ends. */
export function writeInteger (target: Uint8Array, offset: number, value: number): number {
  const length = integerLength(value)
  if (length === 1) {
    target[offset] = value & 0xff
    return offset + 1
  }
  target[offset] = value >= 0 ? (length === 2 ? 0xcc : length === 3 ? 0xcd : 0xce) : (length === 2 ? 0xd0 : length === 3 ? 0xd1 : 0xd2)
  for (let i = length - 1; i > 0; i--) {
    target[offset + i] = value & 0xff
    value >>>= 8
  }
  return offset + length
}

function integerBytes (value: number): Uint8Array {
  const bytes = new Uint8Array(integerLength(value))
  writeInteger(bytes, 0, value)
  return bytes
}

/** The bytes of a stored value, as a client would have sent them. */
export function rawOf (stored: StoredValue, codec: ValueCodec): Encoded {
  if (typeof stored === 'number') {
    return isSmallInteger(stored) ? integerBytes(stored) : codec.encode(stored)
  }
  if (stored instanceof LiveValue) {
    if (stored.raw === undefined) stored.raw = codec.encode(stored.value)
    return stored.raw
  }
  return stored
}

/** The size of the bytes of a stored value, without making them when it can be helped. */
export function rawLength (stored: StoredValue, codec: ValueCodec): number {
  if (typeof stored === 'number' || stored instanceof LiveValue) return rawOf(stored, codec).length
  return stored.length
}
