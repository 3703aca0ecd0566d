import { crc32 } from './crc32'

/*
 * The records the host writes on every mutation, framed by hand: the same MessagePack a generic
 * encoder would make of them (any decoder reads them back alike), without the generic encoder's
 * walk over the array and its copy of the body into the frame.
 *
 *   ['put', key, bytes, expiresAt]   ['del', key]   ['applied', clientId, id, [0, value]]
 *
 * with a value that is a number, a boolean or null, alone or in a ['batch', [record, ...]]. Anything else returns undefined: the caller
 * frames it the generic way.
 */

const HEADER_BYTES = 12
const PUT = Buffer.from([0xa3, 0x70, 0x75, 0x74])
const DEL = Buffer.from([0xa3, 0x64, 0x65, 0x6c])
const APPLIED = Buffer.from([0xa7, 0x61, 0x70, 0x70, 0x6c, 0x69, 0x65, 0x64])
const BATCH = Buffer.from([0xa5, 0x62, 0x61, 0x74, 0x63, 0x68])
// A batch's list is a MessagePack fixarray: up to this many records (a request makes a few).
const MAX_FIXARRAY = 15

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

function valueBytes (value: unknown): number {
  return typeof value === 'number' ? numberBytes(value) : 1
}

/** The body bytes of a common record, or undefined when it is not one. */
function bodyBytes (record: readonly unknown[]): number | undefined {
  const [type, key] = record
  if (typeof key !== 'string') return undefined
  if (type === 'put' && record.length === 4) {
    const bytes = record[2]
    const expiresAt = record[3]
    if (!(bytes instanceof Uint8Array) || typeof expiresAt !== 'number') return undefined
    const keyBytes = Buffer.byteLength(key, 'utf8')
    return 1 + PUT.length + strHeadBytes(keyBytes) + keyBytes + binHeadBytes(bytes.length) + bytes.length + numberBytes(expiresAt)
  }
  if (type === 'del' && record.length === 2) {
    const keyBytes = Buffer.byteLength(key, 'utf8')
    return 1 + DEL.length + strHeadBytes(keyBytes) + keyBytes
  }
  if (type === 'applied' && record.length === 4) {
    const id = record[2]
    const reply = record[3]
    if (typeof id !== 'number' || !Array.isArray(reply) || reply.length !== 2 || reply[0] !== 0) return undefined
    const value = reply[1]
    if (typeof value !== 'number' && typeof value !== 'boolean' && value !== null) return undefined
    const idBytes = Buffer.byteLength(key, 'utf8')
    return 1 + APPLIED.length + strHeadBytes(idBytes) + idBytes + numberBytes(id) + 2 + valueBytes(value)
  }
  return undefined
}

function writeKey (frame: Buffer, offset: number, key: string): number {
  const start = writeStrHead(frame, offset, Buffer.byteLength(key, 'utf8'))
  return start + frame.write(key, start, 'utf8')
}

/** Writes the body of a record `bodyBytes` measured; returns where it ends. */
function writeBody (frame: Buffer, offset: number, record: readonly unknown[]): number {
  const type = record[0]
  const key = record[1] as string
  if (type === 'del') {
    frame[offset] = 0x92
    return writeKey(frame, offset + 1 + DEL.copy(frame, offset + 1), key)
  }
  frame[offset] = 0x94
  if (type === 'put') {
    const bytes = record[2] as Uint8Array
    offset = writeKey(frame, offset + 1 + PUT.copy(frame, offset + 1), key)
    offset = writeBinHead(frame, offset, bytes.length)
    frame.set(bytes, offset)
    return writeNumber(frame, offset + bytes.length, record[3] as number)
  }
  offset = writeKey(frame, offset + 1 + APPLIED.copy(frame, offset + 1), key)
  offset = writeNumber(frame, offset, record[2] as number)
  const value = (record[3] as [0, unknown])[1]
  frame[offset] = 0x92
  frame[offset + 1] = 0x00
  if (typeof value === 'number') return writeNumber(frame, offset + 2, value)
  frame[offset + 2] = value === null ? 0xc0 : value === true ? 0xc3 : 0xc2
  return offset + 3
}

/**
 * The frame of a common record, or of a batch of them (a request's changes and the memory of its
 * reply); undefined for anything else.
 */
export function frameCommonRecord (record: readonly unknown[]): Buffer | undefined {
  if (record[0] === 'batch' && record.length === 2) {
    const records = record[1]
    if (!Array.isArray(records) || records.length > MAX_FIXARRAY) return undefined
    let body = 1 + BATCH.length + 1
    for (const inner of records as Array<readonly unknown[]>) {
      const bytes = Array.isArray(inner) ? bodyBytes(inner) : undefined
      if (bytes === undefined) return undefined
      body += bytes
    }
    const frame = Buffer.allocUnsafe(HEADER_BYTES + body)
    frame[HEADER_BYTES] = 0x92
    let offset = HEADER_BYTES + 1 + BATCH.copy(frame, HEADER_BYTES + 1)
    frame[offset++] = 0x90 | records.length
    for (const inner of records as Array<readonly unknown[]>) offset = writeBody(frame, offset, inner)
    return seal(frame)
  }
  const body = bodyBytes(record)
  if (body === undefined) return undefined
  const frame = Buffer.allocUnsafe(HEADER_BYTES + body)
  writeBody(frame, HEADER_BYTES, record)
  return seal(frame)
}
