import { crc32Range } from './crc32'

/*
 * The records the host writes on every mutation, framed by hand: the same MessagePack a generic
 * encoder would make of them (any decoder reads them back alike), without the generic encoder's
 * walk over the array and its copy of the body into the frame.
 *
 *   ['put', key, bytes, expiresAt]   ['del', key]   ['applied', clientId, id, [0, value]]
 *
 * with a value that is a number, a boolean or null, alone or in a ['batch', [record, ...]]. Anything
 * else is left to the caller, to frame the generic way. They are written straight into the append
 * queue's buffer (a `FrameSink`): no buffer of their own, no copy, no view for the checksums.
 */

/** Where frames are written: `room(n)` returns a buffer with n bytes free from `end`. */
export interface FrameSink {
  readonly end: number
  room: (bytes: number) => Buffer
  /** The frame written into `room`'s buffer from `end` ends at `frameEnd`. */
  commit: (frameEnd: number) => void
}

const HEADER_BYTES = 12
const PUT = Buffer.from([0xa3, 0x70, 0x75, 0x74])
const DEL = Buffer.from([0xa3, 0x64, 0x65, 0x6c])
const APPLIED = Buffer.from([0xa7, 0x61, 0x70, 0x70, 0x6c, 0x69, 0x65, 0x64])
const BATCH = Buffer.from([0xa5, 0x62, 0x61, 0x74, 0x63, 0x68])
// A batch's list is a MessagePack fixarray: up to this many records (a request makes a few).
const MAX_FIXARRAY = 15

/** UTF-8 length of a key; a short ASCII one (the usual) is measured without a native call. */
function utf8Bytes (text: string): number {
  if (text.length > ASCII_SCAN_CHARS) return Buffer.byteLength(text, 'utf8')
  for (let i = 0; i < text.length; i++) {
    if (text.charCodeAt(i) >= 0x80) return Buffer.byteLength(text, 'utf8')
  }
  return text.length
}

// Keys up to this long are scanned and copied a character at a time; longer ones go native.
const ASCII_SCAN_CHARS = 64

function strHeadBytes (length: number): number {
  return length < 32 ? 1 : length < 0x100 ? 2 : length < 0x10000 ? 3 : 5
}

function binHeadBytes (length: number): number {
  return length < 0x100 ? 2 : length < 0x10000 ? 3 : 5
}

const UINT32_END = 2 ** 32
const STR8 = 0xd9
const BIN8 = 0xc4
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

/**
 * Writes the head of a MessagePack str or bin of `length` bytes: `code8` is the head of its 8-bit
 * length form, the 16- and 32-bit forms follow it (str: 0xd9, bin: 0xc4); a str below 32 bytes
 * is a fixstr.
 */
function writeSizedHead (frame: Buffer, offset: number, length: number, code8: number): number {
  if (code8 === STR8 && length < 32) {
    frame[offset] = 0xa0 | length
    return offset + 1
  }
  if (length < 0x100) {
    frame[offset] = code8
    frame[offset + 1] = length
    return offset + 2
  }
  if (length < 0x10000) {
    frame[offset] = code8 + 1
    return frame.writeUInt16BE(length, offset + 1)
  }
  frame[offset] = code8 + 2
  return frame.writeUInt32BE(length, offset + 1)
}

function writeStrHead (frame: Buffer, offset: number, length: number): number {
  return writeSizedHead(frame, offset, length, STR8)
}

function writeBinHead (frame: Buffer, offset: number, length: number): number {
  return writeSizedHead(frame, offset, length, BIN8)
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

/** Fills in the record header of the frame at `start` whose body is written up to `end`. */
export function sealFrame (buffer: Buffer, start: number, end: number): void {
  putUInt32(buffer, start, end - start - HEADER_BYTES)
  putUInt32(buffer, start + 4, crc32Range(buffer, start + HEADER_BYTES, end))
  putUInt32(buffer, start + 8, crc32Range(buffer, start, start + 8))
}

/** A big-endian u32 at `offset`, known to fit (no range checks, unlike writeUInt32BE). */
function putUInt32 (buffer: Buffer, offset: number, value: number): void {
  buffer[offset] = value >>> 24
  buffer[offset + 1] = value >>> 16
  buffer[offset + 2] = value >>> 8
  buffer[offset + 3] = value
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
    const keyBytes = utf8Bytes(key)
    return 1 + PUT.length + strHeadBytes(keyBytes) + keyBytes + binHeadBytes(bytes.length) + bytes.length + numberBytes(expiresAt)
  }
  if (type === 'del' && record.length === 2) {
    const keyBytes = utf8Bytes(key)
    return 1 + DEL.length + strHeadBytes(keyBytes) + keyBytes
  }
  if (type === 'applied' && record.length === 4) {
    const id = record[2]
    const reply = record[3]
    if (typeof id !== 'number' || !Array.isArray(reply) || reply.length !== 2 || reply[0] !== 0) return undefined
    const value = reply[1]
    if (typeof value !== 'number' && typeof value !== 'boolean' && value !== null) return undefined
    const idBytes = utf8Bytes(key)
    return 1 + APPLIED.length + strHeadBytes(idBytes) + idBytes + numberBytes(id) + 2 + valueBytes(value)
  }
  return undefined
}

function writeKey (frame: Buffer, offset: number, key: string): number {
  const bytes = utf8Bytes(key)
  const start = writeStrHead(frame, offset, bytes)
  if (bytes !== key.length || bytes > ASCII_SCAN_CHARS) return start + frame.write(key, start, 'utf8')
  for (let i = 0; i < bytes; i++) frame[start + i] = key.charCodeAt(i)
  return start + bytes
}

// Up to this many bytes a loop copies faster than the native call does.
const LOOP_COPY_BYTES = 32

/** Copies `bytes` into `frame` at `offset`; returns where they end. */
function copySmall (frame: Buffer, offset: number, bytes: Uint8Array): number {
  if (bytes.length > LOOP_COPY_BYTES) {
    frame.set(bytes, offset)
    return offset + bytes.length
  }
  for (let i = 0; i < bytes.length; i++) frame[offset + i] = bytes[i] as number
  return offset + bytes.length
}

/** Writes the body of a record `bodyBytes` measured; returns where it ends. */
function writeBody (frame: Buffer, offset: number, record: readonly unknown[]): number {
  const type = record[0]
  const key = record[1] as string
  if (type === 'del') {
    frame[offset] = 0x92
    return writeKey(frame, copySmall(frame, offset + 1, DEL), key)
  }
  frame[offset] = 0x94
  if (type === 'put') {
    const bytes = record[2] as Uint8Array
    offset = writeKey(frame, copySmall(frame, offset + 1, PUT), key)
    offset = writeBinHead(frame, offset, bytes.length)
    return writeNumber(frame, copySmall(frame, offset, bytes), record[3] as number)
  }
  offset = writeKey(frame, copySmall(frame, offset + 1, APPLIED), key)
  offset = writeNumber(frame, offset, record[2] as number)
  const value = (record[3] as [0, unknown])[1]
  frame[offset] = 0x92
  frame[offset + 1] = 0x00
  if (typeof value === 'number') return writeNumber(frame, offset + 2, value)
  frame[offset + 2] = value === null ? 0xc0 : value === true ? 0xc3 : 0xc2
  return offset + 3
}

/**
 * Writes the frame of a common record, or of a batch of them (a request's changes and the memory
 * of its reply), into `sink`; false, writing nothing, for anything else.
 */
export function writeCommonRecord (record: readonly unknown[], sink: FrameSink): boolean {
  if (record[0] === 'batch' && record.length === 2) {
    const records = record[1]
    return Array.isArray(records) && writeBatch(records as ReadonlyArray<readonly unknown[]>, sink)
  }
  const body = bodyBytes(record)
  if (body === undefined) return false
  const buffer = sink.room(HEADER_BYTES + body)
  const start = sink.end
  const end = writeBody(buffer, start + HEADER_BYTES, record)
  sealFrame(buffer, start, end)
  sink.commit(end)
  return true
}

/** The frame of ['batch', records] when each is a common record; false, writing nothing, if not. */
export function writeBatch (records: ReadonlyArray<readonly unknown[]>, sink: FrameSink): boolean {
  if (records.length > MAX_FIXARRAY) return false
  let body = 1 + BATCH.length + 1
  for (const inner of records) {
    const bytes = Array.isArray(inner) ? bodyBytes(inner) : undefined
    if (bytes === undefined) return false
    body += bytes
  }
  const buffer = sink.room(HEADER_BYTES + body)
  const start = sink.end
  buffer[start + HEADER_BYTES] = 0x92
  let offset = copySmall(buffer, start + HEADER_BYTES + 1, BATCH)
  buffer[offset++] = 0x90 | records.length
  for (const inner of records) offset = writeBody(buffer, offset, inner)
  sealFrame(buffer, start, offset)
  sink.commit(offset)
  return true
}

/** The frame of a common record in a buffer of its own; undefined for anything else. */
export function frameCommonRecord (record: readonly unknown[]): Buffer | undefined {
  let frame: Buffer | undefined
  const sink: FrameSink = {
    end: 0,
    room: (bytes) => (frame = Buffer.alloc(bytes)),
    commit: () => {}
  }
  return writeCommonRecord(record, sink) ? frame : undefined
}
