import { Decoder, Encoder } from '@msgpack/msgpack'
import { integerLength, writeInteger } from '../../store/memory/stored-value'
import { AppendQueue } from './append-queue'
import { crc32, crc32Range } from './crc32'
import { FRAME_HEADER_BYTES, sealFrame } from './frame'
import { frameCommonRecord, writeApplied, writeCommonRecord, writeRequest } from './record-fast-path'
import { readNextRecord } from './record-reader'

/*
 * The change log on disk, byte for byte (pure functions: no file system here).
 *
 *   file   = header, snapshot section, appended frames
 *   header = "FSSL", u16 format version, u16 zero, u64 length of the snapshot section,
 *            u32 CRC-32 of the 16 bytes before it                                  (20 bytes)
 *   frame  = u32 body length, u32 CRC-32 of the body, u32 CRC-32 of those 8 bytes,
 *            body: one or more records, each a MessagePack array, one after another
 *                                                                      (12 bytes + body)
 *
 * All integers are big-endian. The header checksum on each frame tells a torn last frame (its
 * header is intact, the body runs past the end) from a corrupt length in the middle, which would
 * otherwise look like a frame running past the end and swallow everything after it. The records
 * of one write go in one frame: a checksum per write, not per record, and a crash that tears the
 * write drops all of it, as it was never acknowledged as durable under 'always'. A record the
 * generic encoder makes goes in a frame of its own.
 */

export const FILE_MAGIC = 'FSSL'
// Version 3 puts many records in a frame, version 2 added the 'client' and 'req' records; older
// files read the same way (a frame of one record), and are marked version 3 before anything is
// appended to them, so an older reader refuses them plainly.
export const FORMAT_VERSION = 3
const OLDEST_VERSION_READ = 1
export const FILE_HEADER_BYTES = 20
export { FRAME_HEADER_BYTES }
const MAX_BODY_BYTES = 0xFFFFFFFF

export function encodeFileHeader (snapshotBytes: number): Buffer {
  const header = Buffer.alloc(FILE_HEADER_BYTES)
  header.write(FILE_MAGIC, 0, 'latin1')
  header.writeUInt16BE(FORMAT_VERSION, 4)
  header.writeBigUInt64BE(BigInt(snapshotBytes), 8)
  header.writeUInt32BE(crc32(header.subarray(0, 16)), 16)
  return header
}

/** Frames records; one per log, reusing its MessagePack encoder's buffer. */
export class RecordEncoder {
  readonly #encoder = new Encoder()

  /** Throws what MessagePack throws for a value it cannot encode. */
  frame (record: readonly unknown[]): Buffer {
    const common = frameCommonRecord(record)
    if (common !== undefined) return common
    const body = this.#encoder.encodeSharedRef(withValueBytes(record))
    if (body.length > MAX_BODY_BYTES) throw new RangeError(`a record of ${body.length} bytes is too large`)
    const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + body.length)
    frame.set(body, FRAME_HEADER_BYTES)
    sealFrame(frame, 0, frame.length)
    return frame
  }

  /** Many records as one buffer: a part of a snapshot section, framed as the log's appends are. */
  frameAll (records: ReadonlyArray<readonly unknown[]>): Buffer {
    // A part of the entries is one record: framed alone, without a queue's chunk around it.
    const only = records.length === 1 ? records[0] : undefined
    if (only !== undefined) return this.frame(only)
    const queue = new AppendQueue()
    for (const record of records) {
      if (!writeCommonRecord(record, queue)) queue.pushFrame(this.frame(record))
    }
    return queue.take()?.batch ?? Buffer.alloc(0)
  }
}

/**
 * The record as MessagePack has it: a put whose value is given as a small integer (see
 * StateChange) carries the integer's bytes, here and in the changes of a batch or a request.
 */
function withValueBytes (record: readonly unknown[]): readonly unknown[] {
  if (record[0] === 'put' && typeof record[2] === 'number') {
    const bytes = new Uint8Array(integerLength(record[2]))
    writeInteger(bytes, 0, record[2])
    return ['put', record[1], bytes, record[3]]
  }
  if (record[0] === 'batch' && Array.isArray(record[1])) return ['batch', (record[1] as unknown[][]).map(withValueBytes)]
  if (record[0] === 'req') return record.map((item, i) => i < 4 ? item : withValueBytes(item as unknown[]))
  return record
}

const NO_CHANGES: ReadonlyArray<readonly unknown[]> = []

/**
 * The records ['req', client, ids[n], replies[n]] of slots `from` to `to` (a slot whose id is 0 is
 * empty), framed as `frameAll` would frame them, without a record made per reply; `client` is the
 * client's number, or, for a client without one, ['applied', clientId, ids[n], replies[n]].
 */
export function frameReplies (encoder: RecordEncoder, clientId: string, client: number | undefined, ids: Float64Array,
  replies: ReadonlyArray<unknown>, from: number, to: number): Buffer {
  const queue = new AppendQueue()
  for (let slot = from; slot < to && slot < ids.length; slot++) {
    const id = ids[slot] as number
    const reply = replies[slot]
    if (id === 0 || reply === undefined) continue
    const framed = client === undefined ? writeApplied(clientId, id, reply, queue) : writeRequest(NO_CHANGES, 0, client, id, reply, queue)
    if (!framed) queue.pushFrame(encoder.frame(client === undefined ? ['applied', clientId, id, reply] : ['req', client, id, reply]))
  }
  return queue.take()?.batch ?? Buffer.alloc(0)
}

export type ParsedLog =
  | {
    readonly ok: true
    /** The file holds no valid header (empty, or a crash while it was created): write one. */
    readonly fresh: boolean
    /** The records, decoded one at a time as they are read: see LogRecords. */
    readonly records: Iterable<unknown[]>
    readonly snapshotBytes: number
    /** The format version of the file's header (FORMAT_VERSION for a fresh one). */
    readonly version: number
    /** Where the last good frame ends: the file is cut here when a torn tail was dropped. */
    readonly end: number
    readonly tornTail: boolean
  }
  | { readonly ok: false, readonly offset: number, readonly reason: string }

type FrameCheck =
  | { readonly ok: true, readonly next: number }
  /**
   * `reachesEnd`: nothing but zeros follows the damage, as after a frame torn by a crash (a file
   * whose new length reached the disk before its data reads as zeros there).
   */
  | { readonly ok: false, readonly reason: string, readonly reachesEnd: boolean }

/**
 * Reads a whole log's framing. A damaged last frame is a torn write and is dropped (`tornTail`);
 * zeros after the last frame are not a frame and are dropped without a word (`end` is before them);
 * damage followed by more data, or inside the snapshot section (always fsynced before it is
 * renamed into place), is corruption, reported with its offset so nothing half-loaded is ever
 * used. Every checksum is checked here, before anything is loaded; the records are decoded later,
 * as they are replayed, so a long log is never held decoded whole.
 */
export function parseLog (file: Uint8Array): ParsedLog {
  const steps = checkLog(file)
  for (;;) {
    const step = steps.next()
    if (step.done === true) return step.value
  }
}

// Checksums run at about a gigabyte a second: a slice this size is a couple of milliseconds.
const CHECK_SLICE_BYTES = 2 * 1024 * 1024

/** As `parseLog`, pausing after each slice of frames checked, so a loader can let the loop turn. */
export function * checkLog (file: Uint8Array): Generator<void, ParsedLog> {
  const bytes = Buffer.from(file.buffer, file.byteOffset, file.length)
  const empty = (tornTail: boolean): ParsedLog => ({ ok: true, fresh: true, records: [], snapshotBytes: 0, version: FORMAT_VERSION, end: 0, tornTail })
  if (bytes.length < FILE_HEADER_BYTES) {
    if (isMagicPrefix(bytes) || isZero(bytes, 0)) return empty(bytes.length > 0)
    return { ok: false, offset: 0, reason: 'not a fastify-shared-state log' }
  }
  const header = parseFileHeader(bytes)
  if (typeof header === 'string') {
    // A crash after the file grew but before its first bytes reached the disk leaves zeros.
    if (isZero(bytes, 0)) return empty(true)
    return { ok: false, offset: 0, reason: header }
  }
  const { snapshotBytes, version } = header
  const snapshotEnd = FILE_HEADER_BYTES + snapshotBytes
  if (snapshotEnd > bytes.length) {
    return { ok: false, offset: bytes.length, reason: `the snapshot section ends at byte ${snapshotEnd}, after the end of the file` }
  }
  const loaded = (end: number, tornTail: boolean): ParsedLog =>
    ({ ok: true, fresh: false, records: new LogRecords(bytes, end), snapshotBytes, version, end, tornTail })
  let offset = FILE_HEADER_BYTES
  let sliceEnd = offset + CHECK_SLICE_BYTES
  while (offset < bytes.length) {
    if (offset >= sliceEnd) {
      yield
      sliceEnd = offset + CHECK_SLICE_BYTES
    }
    const read = checkFrame(bytes, offset)
    if (read.ok && offset < snapshotEnd && read.next > snapshotEnd) {
      return { ok: false, offset, reason: 'a frame crosses the end of the snapshot section' }
    }
    if (read.ok) {
      offset = read.next
      continue
    }
    // Nothing but zeros after the last frame is room the log grew ahead of its records (under
    // 'always'), or a write whose data never landed: no record is dropped either way.
    if (offset >= snapshotEnd && isZero(bytes, offset)) return loaded(offset, false)
    if (offset >= snapshotEnd && read.reachesEnd) return loaded(offset, true)
    return { ok: false, offset, reason: read.reason }
  }
  return loaded(offset, false)
}

/**
 * A record of a checked log that cannot be read back; the loader turns it into the coded error
 * naming the file (recovery.ts corruptLog), so it never reaches a user as it is.
 */
export class LogDamage extends Error {
  readonly offset: number
  readonly reason: string

  constructor (offset: number, reason: string) {
    super(`frame at byte ${offset}: ${reason}`)
    this.offset = offset
    this.reason = reason
  }
}

/**
 * The records of a log whose framing `parseLog` checked, up to `end`, each decoded when the
 * iteration reaches it. A body that is not MessagePack arrays (its checksum matched: written so
 * by something other than this package) throws LogDamage naming its frame.
 */
export class LogRecords implements Iterable<unknown[]> {
  readonly #bytes: Buffer
  readonly #end: number

  constructor (bytes: Buffer, end: number) {
    this.#bytes = bytes
    this.#end = end
  }

  * [Symbol.iterator] (): Iterator<unknown[]> {
    const bytes = this.#bytes
    const decoder = new Decoder()
    for (let offset = FILE_HEADER_BYTES; offset < this.#end;) {
      const bodyStart = offset + FRAME_HEADER_BYTES
      const next = bodyStart + bytes.readUInt32BE(offset)
      yield * frameRecords(bytes, offset, next, decoder)
      offset = next
    }
  }
}

/**
 * The records of the frame at `offset`, whose body ends at `end`: read by hand while they are
 * common ones (all of them, as this package writes a frame of many), the rest decoded the generic
 * way.
 */
function * frameRecords (bytes: Buffer, offset: number, end: number, decoder: Decoder): Generator<unknown[]> {
  let at = offset + FRAME_HEADER_BYTES
  if (at === end) throw new LogDamage(offset, 'the frame holds no record')
  for (let read = readNextRecord(bytes, at, end); read !== undefined; read = readNextRecord(bytes, at, end)) {
    yield read.value
    at = read.next
    if (at === end) return
  }
  // A copy (Buffer#slice would be a view), so values decoded as binary keep these bytes alive,
  // not the whole file's.
  const rest = Uint8Array.prototype.slice.call(bytes, at, end)
  const records = decoder.decodeMulti(rest)
  for (;;) {
    let step: IteratorResult<unknown>
    try {
      step = records.next()
    } catch {
      throw new LogDamage(offset, 'record is not valid MessagePack')
    }
    if (step.done === true) return
    if (!Array.isArray(step.value)) throw new LogDamage(offset, 'record is not an array')
    yield step.value
  }
}

/** The snapshot section's length and the format version, or why the header is not one this version reads. */
export function parseFileHeader (bytes: Uint8Array): { snapshotBytes: number, version: number } | string {
  const header = Buffer.from(bytes.buffer, bytes.byteOffset, FILE_HEADER_BYTES)
  if (header.toString('latin1', 0, 4) !== FILE_MAGIC) return 'not a fastify-shared-state log'
  if (header.readUInt32BE(16) !== crc32(header.subarray(0, 16))) return 'bad file header checksum'
  const version = header.readUInt16BE(4)
  if (version < OLDEST_VERSION_READ || version > FORMAT_VERSION) {
    return `format version ${version} is not supported (this version reads ${OLDEST_VERSION_READ} to ${FORMAT_VERSION})`
  }
  const snapshotBytes = header.readBigUInt64BE(8)
  if (snapshotBytes > BigInt(Number.MAX_SAFE_INTEGER)) return 'impossible snapshot length'
  return { snapshotBytes: Number(snapshotBytes), version }
}

function checkFrame (bytes: Buffer, offset: number): FrameCheck {
  if (bytes.length - offset < FRAME_HEADER_BYTES) {
    return { ok: false, reason: 'incomplete frame header', reachesEnd: true }
  }
  if (bytes.readUInt32BE(offset + 8) !== crc32Range(bytes, offset, offset + 8)) {
    // A header cut by a crash where a sector ended, the rest of it and all after it left zeros (in
    // a file grown ahead, or whose new length landed before its data), is a torn last frame.
    return { ok: false, reason: 'bad frame header checksum', reachesEnd: isZero(bytes, offset + FRAME_HEADER_BYTES) }
  }
  const bodyStart = offset + FRAME_HEADER_BYTES
  const next = bodyStart + bytes.readUInt32BE(offset)
  if (next > bytes.length) return { ok: false, reason: 'frame runs past the end of the file', reachesEnd: true }
  if (crc32Range(bytes, bodyStart, next) !== bytes.readUInt32BE(offset + 4)) {
    return { ok: false, reason: 'bad frame checksum', reachesEnd: isZero(bytes, next) }
  }
  return { ok: true, next }
}

function isMagicPrefix (bytes: Uint8Array): boolean {
  const length = Math.min(bytes.length, FILE_MAGIC.length)
  return Buffer.from(bytes.buffer, bytes.byteOffset, length).toString('latin1') === FILE_MAGIC.slice(0, length)
}

function isZero (bytes: Uint8Array, from: number): boolean {
  for (let i = from; i < bytes.length; i++) if (bytes[i] !== 0) return false
  return true
}
