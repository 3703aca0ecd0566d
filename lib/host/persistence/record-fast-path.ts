import { crc32 } from './crc32'

/*
 * The records the host writes on every mutation, framed by hand: the same MessagePack a generic
 * encoder would make of them (any decoder reads them back alike), without the generic encoder's
 * walk over the array and its copy of the body into the frame.
 *
 *   ['put', key, bytes, expiresAt]   ['del', key]   ['applied', clientId, id, [0, value]]
 *
 * with a value that is a number, a boolean or null. Anything else returns undefined: the caller
 * frames it the generic way.
 */

const HEADER_BYTES = 12
const PUT = Buffer.from([0xa3, 0x70, 0x75, 0x74])
const DEL = Buffer.from([0xa3, 0x64, 0x65, 0x6c])
const APPLIED = Buffer.from([0xa7, 0x61, 0x70, 0x70, 0x6c, 0x69, 0x65, 0x64])

function strHeadBytes (length: number): number {
  return length < 32 ? 1 : length < 0x100 ? 2 : length < 0x10000 ? 3 : 5
}

function binHeadBytes (length: number): number {
  return length < 0x100 ? 2 : length < 0x10000 ? 3 : 5
}

const UINT32_END = 2 ** 32
const INT32_MIN = -(2 ** 31)

/**
 * MessagePack bytes of a number: a positive fixint, a 32-bit integer, or a float64 (which holds
 * every safe integer exactly, so a deadline in ms reads back the same).
 */
function numberBytes (value: number): number {
  if (!Number.isInteger(value) || Object.is(value, -0)) return 9
  if (value >= 0 && value < 0x80) return 1
  return value >= INT32_MIN && value < UINT32_END ? 5 : 9
}

function writeStrHead (frame: Buffer, offset: number, length: number): number {
  if (length < 32) {
    frame[offset] = 0xa0 | length
    return offset + 1
  }
  if (length < 0x100) {
    frame[offset] = 0xd9
    frame[offset + 1] = length
    return offset + 2
  }
  if (length < 0x10000) {
    frame[offset] = 0xda
    return frame.writeUInt16BE(length, offset + 1)
  }
  frame[offset] = 0xdb
  return frame.writeUInt32BE(length, offset + 1)
}

function writeBinHead (frame: Buffer, offset: number, length: number): number {
  if (length < 0x100) {
    frame[offset] = 0xc4
    frame[offset + 1] = length
    return offset + 2
  }
  if (length < 0x10000) {
    frame[offset] = 0xc5
    return frame.writeUInt16BE(length, offset + 1)
  }
  frame[offset] = 0xc6
  return frame.writeUInt32BE(length, offset + 1)
}

function writeNumber (frame: Buffer, offset: number, value: number): number {
  const bytes = numberBytes(value)
  if (bytes === 1) {
    frame[offset] = value
    return offset + 1
  }
  if (bytes === 5) {
    frame[offset] = value >= 0 ? 0xce : 0xd2
    return value >= 0 ? frame.writeUInt32BE(value, offset + 1) : frame.writeInt32BE(value, offset + 1)
  }
  frame[offset] = 0xcb
  return frame.writeDoubleBE(value, offset + 1)
}

/** Fills in the record header of a frame whose body is written. */
function seal (frame: Buffer): Buffer {
  frame.writeUInt32BE(frame.length - HEADER_BYTES, 0)
  frame.writeUInt32BE(crc32(frame.subarray(HEADER_BYTES)), 4)
  frame.writeUInt32BE(crc32(frame.subarray(0, 8)), 8)
  return frame
}

function framePut (key: string, bytes: Uint8Array, expiresAt: number): Buffer {
  const keyBytes = Buffer.byteLength(key, 'utf8')
  const body = 1 + PUT.length + strHeadBytes(keyBytes) + keyBytes + binHeadBytes(bytes.length) + bytes.length + numberBytes(expiresAt)
  const frame = Buffer.allocUnsafe(HEADER_BYTES + body)
  frame[HEADER_BYTES] = 0x94
  let offset = HEADER_BYTES + 1 + PUT.copy(frame, HEADER_BYTES + 1)
  offset = writeStrHead(frame, offset, keyBytes)
  offset += frame.write(key, offset, 'utf8')
  offset = writeBinHead(frame, offset, bytes.length)
  frame.set(bytes, offset)
  writeNumber(frame, offset + bytes.length, expiresAt)
  return seal(frame)
}

function frameDel (key: string): Buffer {
  const keyBytes = Buffer.byteLength(key, 'utf8')
  const frame = Buffer.allocUnsafe(HEADER_BYTES + 1 + DEL.length + strHeadBytes(keyBytes) + keyBytes)
  frame[HEADER_BYTES] = 0x92
  const offset = writeStrHead(frame, HEADER_BYTES + 1 + DEL.copy(frame, HEADER_BYTES + 1), keyBytes)
  frame.write(key, offset, 'utf8')
  return seal(frame)
}

function valueBytes (value: unknown): number {
  return typeof value === 'number' ? numberBytes(value) : 1
}

function frameApplied (clientId: string, id: number, value: unknown): Buffer {
  const idBytes = Buffer.byteLength(clientId, 'utf8')
  const body = 1 + APPLIED.length + strHeadBytes(idBytes) + idBytes + numberBytes(id) + 2 + valueBytes(value)
  const frame = Buffer.allocUnsafe(HEADER_BYTES + body)
  frame[HEADER_BYTES] = 0x94
  let offset = writeStrHead(frame, HEADER_BYTES + 1 + APPLIED.copy(frame, HEADER_BYTES + 1), idBytes)
  offset += frame.write(clientId, offset, 'utf8')
  offset = writeNumber(frame, offset, id)
  frame[offset] = 0x92
  frame[offset + 1] = 0x00
  if (typeof value === 'number') writeNumber(frame, offset + 2, value)
  else frame[offset + 2] = value === null ? 0xc0 : value === true ? 0xc3 : 0xc2
  return seal(frame)
}

/** The frame of a common record, or undefined when it is not one of those this file knows. */
export function frameCommonRecord (record: readonly unknown[]): Buffer | undefined {
  const [type, key] = record
  if (typeof key !== 'string') return undefined
  if (type === 'put' && record.length === 4) {
    const bytes = record[2]
    const expiresAt = record[3]
    if (bytes instanceof Uint8Array && typeof expiresAt === 'number') return framePut(key, bytes, expiresAt)
  } else if (type === 'del' && record.length === 2) {
    return frameDel(key)
  } else if (type === 'applied' && record.length === 4) {
    const id = record[2]
    const reply = record[3]
    if (typeof id !== 'number' || !Array.isArray(reply) || reply.length !== 2 || reply[0] !== 0) return undefined
    const value = reply[1]
    if (typeof value === 'number' || typeof value === 'boolean' || value === null) return frameApplied(key, id, value)
  }
  return undefined
}
