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
const APPLIED = Buffer.from([0xa7, 0x61, 0x70, 0x70, 0x6c, 0x69, 0x65, 0x64])
const BATCH = Buffer.from([0xa5, 0x62, 0x61, 0x74, 0x63, 0x68])
// A batch's list is a MessagePack fixarray: up to this many records (a request makes a few).
const MAX_FIXARRAY = 15

// Keys up to this long are copied a character at a time while they prove ASCII; longer ones,
// and any that is not, go native.
const ASCII_SCAN_CHARS = 64
const STR8 = 0xd9
const BIN8 = 0xc4
const UINT32_END = 2 ** 32
const INT32_MIN = -(2 ** 31)
// The largest MessagePack forms written here: a number (float64), and the heads of a str or bin.
const NUMBER_MAX_BYTES = 9
const HEAD_MAX_BYTES = 5

/** At most this many bytes of UTF-8: 3 per UTF-16 unit (a surrogate pair makes 4 of 2 units). */
function strMaxBytes (text: string): number {
  return HEAD_MAX_BYTES + 3 * text.length
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
    frame[offset + 1] = length >>> 8
    frame[offset + 2] = length
    return offset + 3
  }
  frame[offset] = code8 + 2
  putUInt32(frame, offset + 1, length)
  return offset + 5
}

/**
 * Writes a number as a positive fixint, a 32-bit integer, or a float64 (which holds every safe
 * integer exactly, so a deadline in ms reads back the same): the forms the reader reads by hand.
 */
function writeNumber (frame: Buffer, offset: number, value: number): number {
  if (Number.isInteger(value) && !Object.is(value, -0)) {
    if (value >= 0 && value < 0x80) {
      frame[offset] = value
      return offset + 1
    }
    if (value >= 0 && value < UINT32_END) {
      frame[offset] = 0xce
      putUInt32(frame, offset + 1, value)
      return offset + 5
    }
    if (value < 0 && value >= INT32_MIN) {
      frame[offset] = 0xd2
      putUInt32(frame, offset + 1, value)
      return offset + 5
    }
  }
  frame[offset] = 0xcb
  return frame.writeDoubleBE(value, offset + 1)
}

/** A big-endian u32 (or i32) at `offset`, known to fit (no range checks, unlike writeUInt32BE). */
function putUInt32 (buffer: Buffer, offset: number, value: number): void {
  buffer[offset] = value >>> 24
  buffer[offset + 1] = value >>> 16
  buffer[offset + 2] = value >>> 8
  buffer[offset + 3] = value
}

/** Fills in the record header of the frame at `start` whose body is written up to `end`. */
export function sealFrame (buffer: Buffer, start: number, end: number): void {
  putUInt32(buffer, start, end - start - HEADER_BYTES)
  putUInt32(buffer, start + 4, crc32Range(buffer, start + HEADER_BYTES, end))
  putUInt32(buffer, start + 8, crc32Range(buffer, start, start + 8))
}

/**
 * Writes `text` as a MessagePack str; a short ASCII one (the usual key or client id) is copied as
 * it is checked, in one pass.
 */
function writeStr (frame: Buffer, offset: number, text: string): number {
  const length = text.length
  if (length <= ASCII_SCAN_CHARS) {
    const start = offset + (length < 32 ? 1 : 2)
    let i = 0
    for (; i < length; i++) {
      const code = text.charCodeAt(i)
      if (code >= 0x80) break
      frame[start + i] = code
    }
    if (i === length) {
      writeSizedHead(frame, offset, length, STR8)
      return start + length
    }
  }
  const start = writeSizedHead(frame, offset, Buffer.byteLength(text, 'utf8'), STR8)
  return start + frame.write(text, start, 'utf8')
}

// Up to this many bytes a loop copies faster than the native call does.
const LOOP_COPY_BYTES = 32

/** Writes `bytes` as a MessagePack bin. */
function writeBin (frame: Buffer, offset: number, bytes: Uint8Array): number {
  offset = writeSizedHead(frame, offset, bytes.length, BIN8)
  if (bytes.length > LOOP_COPY_BYTES) {
    frame.set(bytes, offset)
    return offset + bytes.length
  }
  for (let i = 0; i < bytes.length; i++) frame[offset + i] = bytes[i] as number
  return offset + bytes.length
}

/**
 * An upper bound of the body of a common record (a frame is written into this much room, in one
 * pass, and ends where it ends), or -1 when the record is not one.
 */
function bodyBound (record: readonly unknown[]): number {
  const type = record[0]
  const key = record[1]
  if (typeof key !== 'string') return -1
  if (type === 'put') {
    const bytes = record[2]
    if (record.length !== 4 || !(bytes instanceof Uint8Array) || typeof record[3] !== 'number') return -1
    return 5 + strMaxBytes(key) + HEAD_MAX_BYTES + bytes.length + NUMBER_MAX_BYTES
  }
  if (type === 'del') return record.length === 2 ? 5 + strMaxBytes(key) : -1
  if (type === 'applied') return record.length === 4 ? appliedBound(key, record[2], record[3]) : -1
  return -1
}

/** `bodyBound` of ['applied', clientId, id, reply]. */
function appliedBound (clientId: string, id: unknown, reply: unknown): number {
  if (typeof id !== 'number' || !Array.isArray(reply) || reply.length !== 2 || reply[0] !== 0) return -1
  const value = reply[1]
  if (typeof value !== 'number' && typeof value !== 'boolean' && value !== null) return -1
  return 9 + strMaxBytes(clientId) + NUMBER_MAX_BYTES + 2 + NUMBER_MAX_BYTES
}

/** Writes the body of ['applied', clientId, id, [0, value]]; returns where it ends. */
function writeAppliedBody (frame: Buffer, offset: number, clientId: string, id: number, value: unknown): number {
  frame[offset] = 0x94
  for (let i = 0; i < APPLIED.length; i++) frame[offset + 1 + i] = APPLIED[i] as number
  offset = writeNumber(frame, writeStr(frame, offset + 9, clientId), id)
  frame[offset] = 0x92
  frame[offset + 1] = 0x00
  if (typeof value === 'number') return writeNumber(frame, offset + 2, value)
  frame[offset + 2] = value === null ? 0xc0 : value === true ? 0xc3 : 0xc2
  return offset + 3
}

/** Writes the body of a record `bodyBound` accepted; returns where it ends. */
function writeBody (frame: Buffer, offset: number, record: readonly unknown[]): number {
  const type = record[0]
  const key = record[1] as string
  if (type === 'put') {
    frame[offset] = 0x94
    frame[offset + 1] = 0xa3
    frame[offset + 2] = 0x70 // p
    frame[offset + 3] = 0x75 // u
    frame[offset + 4] = 0x74 // t
    offset = writeBin(frame, writeStr(frame, offset + 5, key), record[2] as Uint8Array)
    return writeNumber(frame, offset, record[3] as number)
  }
  if (type === 'del') {
    frame[offset] = 0x92
    frame[offset + 1] = 0xa3
    frame[offset + 2] = 0x64 // d
    frame[offset + 3] = 0x65 // e
    frame[offset + 4] = 0x6c // l
    return writeStr(frame, offset + 5, key)
  }
  return writeAppliedBody(frame, offset, key, record[2] as number, (record[3] as [0, unknown])[1])
}

/**
 * Writes the frame of a common record, or of a batch of them (a request's changes and the memory
 * of its reply), into `sink`; false, writing nothing, for anything else.
 */
export function writeCommonRecord (record: readonly unknown[], sink: FrameSink): boolean {
  if (record[0] === 'batch' && record.length === 2) {
    const records = record[1]
    return Array.isArray(records) && writeBatch(records as ReadonlyArray<readonly unknown[]>, records.length, sink)
  }
  const bound = bodyBound(record)
  if (bound < 0) return false
  const buffer = sink.room(HEADER_BYTES + bound)
  const start = sink.end
  const end = writeBody(buffer, start + HEADER_BYTES, record)
  sealFrame(buffer, start, end)
  sink.commit(end)
  return true
}

/**
 * The frame of ['batch', the first `count` of `records`] when each is a common record; false,
 * writing nothing, if not.
 */
export function writeBatch (records: ReadonlyArray<readonly unknown[]>, count: number, sink: FrameSink): boolean {
  return writeGroup(records, count, undefined, 0, undefined, sink)
}

/**
 * The frame of a request's changes (the first `count` of `changes`) and the memory of its reply,
 * ['applied', clientId, id, reply], taken as they are so that no record is made for it: one
 * 'batch' record, or the 'applied' record alone when the request changed nothing. False, writing
 * nothing, when any is not a common record.
 */
export function writeRequest (changes: ReadonlyArray<readonly unknown[]>, count: number,
  clientId: string, id: number, reply: unknown, sink: FrameSink): boolean {
  if (count > 0) return writeGroup(changes, count, clientId, id, reply, sink)
  const bound = appliedBound(clientId, id, reply)
  if (bound < 0) return false
  const buffer = sink.room(HEADER_BYTES + bound)
  const start = sink.end
  const end = writeAppliedBody(buffer, start + HEADER_BYTES, clientId, id, (reply as [0, unknown])[1])
  sealFrame(buffer, start, end)
  sink.commit(end)
  return true
}

/** A batch of `records` (the first `count`), then the 'applied' record when `clientId` is given. */
function writeGroup (records: ReadonlyArray<readonly unknown[]>, count: number,
  clientId: string | undefined, id: number, reply: unknown, sink: FrameSink): boolean {
  const size = clientId === undefined ? count : count + 1
  if (size > MAX_FIXARRAY) return false
  let bound = 1 + BATCH.length + 1
  for (let i = 0; i < count; i++) {
    const inner = records[i]
    const bytes = Array.isArray(inner) ? bodyBound(inner) : -1
    if (bytes < 0) return false
    bound += bytes
  }
  if (clientId !== undefined) {
    const bytes = appliedBound(clientId, id, reply)
    if (bytes < 0) return false
    bound += bytes
  }
  const buffer = sink.room(HEADER_BYTES + bound)
  const start = sink.end
  buffer[start + HEADER_BYTES] = 0x92
  for (let i = 0; i < BATCH.length; i++) buffer[start + HEADER_BYTES + 1 + i] = BATCH[i] as number
  let offset = start + HEADER_BYTES + 1 + BATCH.length
  buffer[offset++] = 0x90 | size
  for (let i = 0; i < count; i++) offset = writeBody(buffer, offset, records[i] as readonly unknown[])
  if (clientId !== undefined) offset = writeAppliedBody(buffer, offset, clientId, id, (reply as [0, unknown])[1])
  sealFrame(buffer, start, offset)
  sink.commit(offset)
  return true
}

/** The frame of a common record in a buffer of its own; undefined for anything else. */
export function frameCommonRecord (record: readonly unknown[]): Buffer | undefined {
  let frame: Buffer | undefined
  let end = 0
  const sink: FrameSink = {
    end: 0,
    room: (bytes) => (frame = Buffer.alloc(bytes)),
    commit: (frameEnd) => { end = frameEnd }
  }
  return writeCommonRecord(record, sink) ? frame?.subarray(0, end) : undefined
}
