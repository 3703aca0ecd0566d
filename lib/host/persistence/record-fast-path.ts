import { integerLength, isSmallInteger, writeInteger } from '../../store/memory/stored-value'
import { FRAME_HEADER_BYTES, putUInt32, sealFrame, type RecordSink } from './frame'

/*
 * The records the host writes on every mutation, encoded by hand: the same MessagePack a generic
 * encoder would make of them (any decoder reads them back alike), without the generic encoder's
 * walk over the array and its copy of the body into the frame.
 *
 *   ['req', client, id, [0, value], change...]     a request's reply and its changes
 *   ['put', key, bytes, expiresAt]   ['del', key]   changes, alone or in a ['batch', [change, ...]]
 *   ['applied', clientId, id, [0, value]]          a reply kept for a client the log has no number for
 *
 * with a value that is a number, a boolean, null or undefined; a put's bytes may be given as a small integer
 * (see isSmallInteger), written as the bytes the codec makes of it. Anything else is left to the
 * caller, to frame the generic way. They are written straight into the append queue's open frame
 * (a `RecordSink`): no buffer of their own, no copy, and no checksum of their own.
 */

const APPLIED = Buffer.from([0xa7, 0x61, 0x70, 0x70, 0x6c, 0x69, 0x65, 0x64])
const BATCH = Buffer.from([0xa5, 0x62, 0x61, 0x74, 0x63, 0x68])
const REQ = Buffer.from([0xa3, 0x72, 0x65, 0x71])
// A batch's list, and a request record, are MessagePack fixarrays: up to this many items.
const MAX_FIXARRAY = 15
// A request record's items before its changes: the tag, the client, the id, the reply.
const REQUEST_HEAD_ITEMS = 4

// Keys up to this long are copied a character at a time while they prove ASCII; longer ones,
// and any that is not, go native.
const ASCII_SCAN_CHARS = 64
const STR8 = 0xd9
const BIN8 = 0xc4
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
 * The usual ones (ids, client numbers, no expiry: an integer from 0 to 2^32 - 1, where -0, whose
 * 1 / value is -Infinity, is not one) are told apart in a few tests, in a function small enough to
 * be inlined; the rest go out of line.
 */
function writeNumber (frame: Buffer, offset: number, value: number): number {
  if ((value >>> 0) === value && (value !== 0 || 1 / value > 0)) {
    if (value < 0x80) {
      frame[offset] = value
      return offset + 1
    }
    frame[offset] = 0xce
    frame[offset + 1] = value >>> 24
    frame[offset + 2] = value >>> 16
    frame[offset + 3] = value >>> 8
    frame[offset + 4] = value
    return offset + 5
  }
  return writeOtherNumber(frame, offset, value)
}

/** `writeNumber` of a negative 32-bit integer, or of anything else as a float64. */
function writeOtherNumber (frame: Buffer, offset: number, value: number): number {
  if (Number.isInteger(value) && value < 0 && value >= INT32_MIN) {
    frame[offset] = 0xd2
    putUInt32(frame, offset + 1, value)
    return offset + 5
  }
  frame[offset] = 0xcb
  return frame.writeDoubleBE(value, offset + 1)
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

/** Writes a small integer's MessagePack bytes (see isSmallInteger) as a MessagePack bin. */
function writeIntegerBin (frame: Buffer, offset: number, value: number): number {
  frame[offset] = BIN8
  frame[offset + 1] = integerLength(value)
  return writeInteger(frame, offset + 2, value)
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
    if (record.length !== 4 || typeof record[3] !== 'number') return -1
    const valueBytes = bytes instanceof Uint8Array ? HEAD_MAX_BYTES + bytes.length : typeof bytes === 'number' && isSmallInteger(bytes) ? 7 : -1
    return valueBytes < 0 ? -1 : 5 + strMaxBytes(key) + valueBytes + NUMBER_MAX_BYTES
  }
  if (type === 'del') return record.length === 2 ? 5 + strMaxBytes(key) : -1
  if (type === 'applied') return record.length === 4 ? appliedBound(key, record[2], record[3]) : -1
  return -1
}

/** `bodyBound` of ['applied', clientId, id, reply]. */
function appliedBound (clientId: string, id: unknown, reply: unknown): number {
  if (typeof id !== 'number' || !isPlainReply(reply)) return -1
  return 9 + strMaxBytes(clientId) + NUMBER_MAX_BYTES + REPLY_MAX_BYTES
}

/**
 * A reply [0, value] with a value that is a number, a boolean, null, or undefined (a set's), which
 * MessagePack, the generic encoder's way too, writes as null.
 */
function isPlainReply (reply: unknown): boolean {
  if (!Array.isArray(reply) || reply.length !== 2 || reply[0] !== 0) return false
  const value = reply[1]
  return typeof value === 'number' || typeof value === 'boolean' || value === null || value === undefined
}

const REPLY_MAX_BYTES = 2 + NUMBER_MAX_BYTES

/** Writes [0, value] (see isPlainReply); returns where it ends. */
function writeReply (frame: Buffer, offset: number, value: unknown): number {
  frame[offset] = 0x92
  frame[offset + 1] = 0x00
  if (typeof value === 'number') return writeNumber(frame, offset + 2, value)
  frame[offset + 2] = value === true ? 0xc3 : value === false ? 0xc2 : 0xc0
  return offset + 3
}

/** Writes the body of ['applied', clientId, id, [0, value]]; returns where it ends. */
function writeAppliedBody (frame: Buffer, offset: number, clientId: string, id: number, value: unknown): number {
  frame[offset] = 0x94
  for (let i = 0; i < APPLIED.length; i++) frame[offset + 1 + i] = APPLIED[i] as number
  return writeReply(frame, writeNumber(frame, writeStr(frame, offset + 9, clientId), id), value)
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
    const value = record[2]
    offset = writeStr(frame, offset + 5, key)
    offset = typeof value === 'number' ? writeIntegerBin(frame, offset, value) : writeBin(frame, offset, value as Uint8Array)
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
 * Writes a common record, or a batch of them, into `sink`; false, writing nothing, for anything
 * else.
 */
export function writeCommonRecord (record: readonly unknown[], sink: RecordSink): boolean {
  if (record[0] === 'batch' && record.length === 2) {
    const records = record[1]
    return Array.isArray(records) && writeBatch(records as ReadonlyArray<readonly unknown[]>, records.length, sink)
  }
  const bound = bodyBound(record)
  if (bound < 0) return false
  const buffer = sink.room(bound)
  sink.commit(writeBody(buffer, sink.end, record))
  return true
}

/** The bound of the first `count` of `records` together, or -1 when any is not a common record. */
function recordsBound (records: ReadonlyArray<readonly unknown[]>, count: number): number {
  let bound = 0
  for (let i = 0; i < count; i++) {
    const inner = records[i]
    const bytes = Array.isArray(inner) ? bodyBound(inner) : -1
    if (bytes < 0) return -1
    bound += bytes
  }
  return bound
}

/**
 * Writes ['batch', the first `count` of `records`] when each is a common record; false, writing
 * nothing, if not.
 */
export function writeBatch (records: ReadonlyArray<readonly unknown[]>, count: number, sink: RecordSink): boolean {
  const bound = count > MAX_FIXARRAY ? -1 : recordsBound(records, count)
  if (bound < 0) return false
  const buffer = sink.room(2 + BATCH.length + bound)
  let offset = sink.end
  buffer[offset] = 0x92
  for (let i = 0; i < BATCH.length; i++) buffer[offset + 1 + i] = BATCH[i] as number
  offset += 1 + BATCH.length
  buffer[offset++] = 0x90 | count
  for (let i = 0; i < count; i++) offset = writeBody(buffer, offset, records[i] as readonly unknown[])
  sink.commit(offset)
  return true
}

/**
 * Writes a request: ['req', client, id, reply, change...], the memory of its reply (client: the
 * number the log gave its client) with its changes, the first `count` of `changes`, taken as they
 * are so that no record is made for it. False, writing nothing, when the reply or any change is
 * not a common one.
 */
export function writeRequest (changes: ReadonlyArray<readonly unknown[]>, count: number,
  client: number, id: number, reply: unknown, sink: RecordSink): boolean {
  if (count === 1 && writeOnePut(changes[0] as readonly unknown[], client, id, reply, sink)) return true
  if (count > MAX_FIXARRAY - REQUEST_HEAD_ITEMS || !isPlainReply(reply)) return false
  const changesBound = recordsBound(changes, count)
  if (changesBound < 0) return false
  const buffer = sink.room(1 + REQ.length + 2 * NUMBER_MAX_BYTES + REPLY_MAX_BYTES + changesBound)
  let offset = sink.end
  buffer[offset++] = 0x90 | (REQUEST_HEAD_ITEMS + count)
  for (let i = 0; i < REQ.length; i++) buffer[offset + i] = REQ[i] as number
  offset = writeNumber(buffer, writeNumber(buffer, offset + REQ.length, client), id)
  offset = writeReply(buffer, offset, (reply as [0, unknown])[1])
  for (let i = 0; i < count; i++) offset = writeBody(buffer, offset, changes[i] as readonly unknown[])
  sink.commit(offset)
  return true
}

// A request of one put whose key is a fixstr of ASCII and whose value is a small integer or a few
// bytes: at most this many bytes besides the key's characters and the value's bytes (the head, 'req',
// client, id, the reply, 'put' and the key's head, the bin's head, the expiry).
const ONE_PUT_BYTES = 1 + REQ.length + NUMBER_MAX_BYTES * 2 + REPLY_MAX_BYTES + 5 + 1 + 2 + NUMBER_MAX_BYTES
const MAX_FIXSTR = 31

/**
 * `writeRequest` of ['req', client, id, reply, ['put', key, value, expiresAt]] for the request
 * nearly every mutation is (an incr, a set of a short value): written in one pass, without the
 * walk over the changes, their bounds, or the helpers' calls that every other record pays, in the
 * same bytes. False, writing nothing, for any other: the general way takes it.
 *
 * The key, the value and its bin are written here as writeStr, writeIntegerBin and writeBin would
 * write them, not by calling them: with those calls, writing an incr's record took 10-18 % longer
 * (the versions in turns in one process). The test of this path holds its bytes to theirs.
 */
function writeOnePut (change: readonly unknown[], client: number, id: number, reply: unknown, sink: RecordSink): boolean {
  const key = change[1]
  const value = change[2]
  const expiresAt = change[3]
  if (change[0] !== 'put' || change.length !== 4 || typeof key !== 'string' || key.length > MAX_FIXSTR ||
    typeof expiresAt !== 'number' || !isPlainReply(reply)) return false
  let valueBytes: number
  if (typeof value === 'number') {
    if (!isSmallInteger(value)) return false
    valueBytes = 5
  } else if (value instanceof Uint8Array && value.length <= LOOP_COPY_BYTES) {
    valueBytes = value.length
  } else {
    return false
  }
  const length = key.length
  const frame = sink.room(ONE_PUT_BYTES + length + valueBytes)
  let offset = sink.end
  frame[offset] = 0x90 | (REQUEST_HEAD_ITEMS + 1)
  frame[offset + 1] = 0xa3
  frame[offset + 2] = 0x72 // r
  frame[offset + 3] = 0x65 // e
  frame[offset + 4] = 0x71 // q
  offset = writeReply(frame, writeNumber(frame, writeNumber(frame, offset + 5, client), id), (reply as [0, unknown])[1])
  frame[offset] = 0x94
  frame[offset + 1] = 0xa3
  frame[offset + 2] = 0x70 // p
  frame[offset + 3] = 0x75 // u
  frame[offset + 4] = 0x74 // t
  frame[offset + 5] = 0xa0 | length
  offset += 6
  for (let i = 0; i < length; i++) {
    const code = key.charCodeAt(i)
    // Not ASCII: nothing is committed, so the general way writes over it.
    if (code >= 0x80) return false
    frame[offset + i] = code
  }
  offset += length
  if (typeof value === 'number' && value >= 0) {
    // A counter's value.
    frame[offset] = BIN8
    if (value < 0x80) {
      frame[offset + 1] = 1
      frame[offset + 2] = value
      offset += 3
    } else if (value < 0x100) {
      frame[offset + 1] = 2
      frame[offset + 2] = 0xcc
      frame[offset + 3] = value
      offset += 4
    } else if (value < 0x10000) {
      frame[offset + 1] = 3
      frame[offset + 2] = 0xcd
      frame[offset + 3] = value >>> 8
      frame[offset + 4] = value
      offset += 5
    } else {
      frame[offset + 1] = 5
      frame[offset + 2] = 0xce
      frame[offset + 3] = value >>> 24
      frame[offset + 4] = value >>> 16
      frame[offset + 5] = value >>> 8
      frame[offset + 6] = value
      offset += 7
    }
  } else if (typeof value === 'number') {
    offset = writeIntegerBin(frame, offset, value)
  } else {
    const bytes = value as Uint8Array
    frame[offset] = BIN8
    frame[offset + 1] = bytes.length
    offset += 2
    for (let i = 0; i < bytes.length; i++) frame[offset + i] = bytes[i] as number
    offset += bytes.length
  }
  sink.commit(writeNumber(frame, offset, expiresAt))
  return true
}

/**
 * Writes ['applied', clientId, id, reply], for a reply kept for a client the log has no number
 * for; false, writing nothing, when the reply is not a common one.
 */
export function writeApplied (clientId: string, id: number, reply: unknown, sink: RecordSink): boolean {
  const bound = appliedBound(clientId, id, reply)
  if (bound < 0) return false
  const buffer = sink.room(bound)
  sink.commit(writeAppliedBody(buffer, sink.end, clientId, id, (reply as [0, unknown])[1]))
  return true
}

/** The frame of a common record alone, in a buffer of its own; undefined for anything else. */
export function frameCommonRecord (record: readonly unknown[]): Buffer | undefined {
  let frame: Buffer | undefined
  let end = FRAME_HEADER_BYTES
  const sink: RecordSink = {
    end: FRAME_HEADER_BYTES,
    room: (bytes) => (frame = Buffer.alloc(FRAME_HEADER_BYTES + bytes)),
    commit: (recordEnd) => { end = recordEnd }
  }
  if (!writeCommonRecord(record, sink) || frame === undefined) return undefined
  sealFrame(frame, 0, end)
  return frame.subarray(0, end)
}
