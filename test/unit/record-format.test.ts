import { randomBytes } from 'node:crypto'
import * as zlib from 'node:zlib'
import { Encoder } from '@msgpack/msgpack'
import { AppendQueue } from '../../lib/host/persistence/append-queue'
import { crc32, crc32Range, portableCrc32 } from '../../lib/host/persistence/crc32'
import { sealFrame } from '../../lib/host/persistence/frame'
import { frameCommonRecord, writeCommonRecord, writeRequest } from '../../lib/host/persistence/record-fast-path'
import {
  encodeFileHeader, FILE_HEADER_BYTES, FORMAT_VERSION, parseLog, FRAME_HEADER_BYTES, RecordEncoder
} from '../../lib/host/persistence/record-format'

const RECORDS: unknown[][] = [
  ['set', 'counter', 1],
  ['set', 'name', 'Ada Lovelace', null],
  ['bin', new Uint8Array([0, 1, 2, 255])],
  ['nested', [1, [2, [3]]], -1.5, 2 ** 40],
  []
]

function logOf (records: unknown[][], snapshot: unknown[][] = []): Buffer {
  const encoder = new RecordEncoder()
  const snapshotBytes = encoder.frameAll(snapshot)
  return Buffer.concat([encodeFileHeader(snapshotBytes.length), snapshotBytes, encoder.frameAll(records)])
}

/** Offset of record `index` in a log written by `logOf(records)`. */
function offsetOf (records: unknown[][], index: number): number {
  const encoder = new RecordEncoder()
  return FILE_HEADER_BYTES + encoder.frameAll(records.slice(0, index)).length
}

/** XORs one byte of `bytes` with `mask`: damage as a bad disk or a stray write would do. */
function flipBits (bytes: Buffer, at: number, mask: number): void {
  bytes.writeUInt8(bytes.readUInt8(at) ^ mask, at)
}

describe('crc32', () => {
  test('matches the standard check value and zlib', () => {
    expect(portableCrc32(Buffer.from('123456789'))).toBe(0xCBF43926)
    expect(crc32(Buffer.from('123456789'))).toBe(0xCBF43926)
    for (let i = 0; i < 20; i++) {
      const bytes = randomBytes(i * 37)
      expect(portableCrc32(bytes)).toBe(zlib.crc32(bytes))
    }
  })

  test('of a range, by table below the native threshold and natively above, as zlib of that range', () => {
    const bytes = randomBytes(1200)
    for (const start of [0, 1, 2, 3, 7]) {
      for (const length of [0, 1, 3, 4, 5, 8, 12, 63, 255, 256, 257, 1000]) {
        expect(crc32Range(bytes, start, start + length)).toBe(zlib.crc32(bytes.subarray(start, start + length)))
      }
    }
  })
})

describe('parseLog', () => {
  test('reads back snapshot and appended records in order', () => {
    const snapshot = [['set', 'a', 1], ['set', 'b', 2]]
    const parsed = parseLog(logOf(RECORDS, snapshot))
    expect(parsed).toMatchObject({ ok: true, fresh: false, tornTail: false })
    if (!parsed.ok) throw new Error('unreachable')
    expect([...parsed.records]).toEqual([...snapshot, ...RECORDS])
    expect(parsed.snapshotBytes).toBe(new RecordEncoder().frameAll(snapshot).length)
    expect(parsed.end).toBe(logOf(RECORDS, snapshot).length)
  })

  test('an empty file is a fresh log', () => {
    expect(parseLog(Buffer.alloc(0))).toEqual({ ok: true, fresh: true, records: [], snapshotBytes: 0, version: FORMAT_VERSION, end: 0, tornTail: false })
  })

  test('a header torn or zero-filled by a crash at creation is a fresh log with a torn tail', () => {
    const header = encodeFileHeader(0)
    for (let cut = 1; cut < FILE_HEADER_BYTES; cut++) {
      expect(parseLog(header.subarray(0, cut))).toMatchObject({ ok: true, fresh: true, tornTail: true })
    }
    expect(parseLog(Buffer.alloc(100))).toMatchObject({ ok: true, fresh: true, tornTail: true })
  })

  test('a record cut anywhere at the end is dropped as a torn tail', () => {
    const whole = logOf(RECORDS)
    const lastStart = offsetOf(RECORDS, RECORDS.length - 1)
    const previousStart = offsetOf(RECORDS, RECORDS.length - 2)
    // The last record is `[]`: cut the one before it too, so every cut point of a body is tried.
    const withoutLast = whole.subarray(0, lastStart)
    for (let end = previousStart + 1; end < lastStart; end++) {
      const parsed = parseLog(withoutLast.subarray(0, end))
      // A cut within the length's leading zero bytes leaves only zeros: nothing to call torn.
      const onlyZeros = withoutLast.subarray(previousStart, end).every((byte) => byte === 0)
      expect(parsed).toMatchObject({ ok: true, tornTail: !onlyZeros, end: previousStart })
      if (parsed.ok) expect([...parsed.records]).toEqual(RECORDS.slice(0, -2))
    }
  })

  test('zeros after the last record (room grown ahead, or data that never landed) end the log; no record is torn', () => {
    const whole = logOf(RECORDS)
    const parsed = parseLog(Buffer.concat([whole, Buffer.alloc(4096)]))
    expect(parsed).toMatchObject({ ok: true, tornTail: false, end: whole.length })
    if (parsed.ok) expect([...parsed.records]).toEqual(RECORDS)
  })

  test('a record header torn at the end, zeros after it (the file grown ahead), is a torn tail', () => {
    const whole = logOf(RECORDS)
    const next = new RecordEncoder().frame(['set', 'later', 1])
    for (let kept = 1; kept < FRAME_HEADER_BYTES; kept++) {
      const torn = Buffer.concat([whole, Buffer.alloc(4096)])
      next.copy(torn, whole.length, 0, kept)
      const onlyZeros = next.subarray(0, kept).every((byte) => byte === 0)
      const parsed = parseLog(torn)
      expect(parsed).toMatchObject({ ok: true, tornTail: !onlyZeros, end: whole.length })
      if (parsed.ok) expect([...parsed.records]).toEqual(RECORDS)
    }
  })

  test('a last record whose body is damaged is a torn tail', () => {
    const whole = logOf(RECORDS.slice(0, 3))
    flipBits(whole, whole.length - 1, 0xFF)
    const parsed = parseLog(whole)
    expect(parsed).toMatchObject({ ok: true, tornTail: true, end: offsetOf(RECORDS, 2) })
  })

  test('a damaged byte anywhere before the last record is corruption at that record', () => {
    const whole = logOf(RECORDS)
    for (let index = 0; index < RECORDS.length - 1; index++) {
      const start = offsetOf(RECORDS, index)
      for (let at = start; at < offsetOf(RECORDS, index + 1); at++) {
        const damaged = Buffer.from(whole)
        flipBits(damaged, at, 0x20)
        const parsed = parseLog(damaged)
        expect(parsed).toMatchObject({ ok: false, offset: start })
      }
    }
  })

  test('garbage after the last record is corruption, not a torn tail', () => {
    const parsed = parseLog(Buffer.concat([logOf(RECORDS), Buffer.from('not a record at all')]))
    expect(parsed).toMatchObject({ ok: false, offset: logOf(RECORDS).length, reason: 'bad frame header checksum' })
  })

  test('damage inside the snapshot section is corruption even at its end', () => {
    const log = logOf([], RECORDS)
    expect(parseLog(log.subarray(0, log.length - 1))).toMatchObject({ ok: false })
    const damaged = Buffer.from(log)
    flipBits(damaged, damaged.length - 1, 1)
    expect(parseLog(damaged)).toMatchObject({ ok: false, offset: offsetOf(RECORDS, RECORDS.length - 1) })
  })

  test('a file that is not a log, or a later format, is refused at offset 0', () => {
    expect(parseLog(Buffer.from('{"hello": "world"}\n'.repeat(3)))).toMatchObject({ ok: false, offset: 0 })
    expect(parseLog(Buffer.from('hello'))).toMatchObject({ ok: false, offset: 0 })
    const header = encodeFileHeader(0)
    header.writeUInt16BE(FORMAT_VERSION + 1, 4)
    header.writeUInt32BE(crc32(header.subarray(0, 16)), 16)
    expect(parseLog(header)).toMatchObject({ ok: false, offset: 0, reason: expect.stringContaining(`format version ${FORMAT_VERSION + 1}`) })
  })

  test.each([1, 2])('a file of format %i, a frame per record, reads the same', (version) => {
    const encoder = new RecordEncoder()
    const records = [['put', 'k', new Uint8Array([1]), 0], ['applied', 'client-a', 3, [0, 1]], ['client', 1, 'client-b'], ['req', 1, 4, [0, 2]]]
    const file = Buffer.concat([encodeFileHeader(0), ...records.slice(0, version === 1 ? 2 : 4).map((record) => encoder.frame(record))])
    file.writeUInt16BE(version, 4)
    file.writeUInt32BE(crc32(file.subarray(0, 16)), 16)
    const parsed = parseLog(file)
    expect(parsed).toMatchObject({ ok: true, version })
    expect(parsed.ok && [...parsed.records]).toEqual(records.slice(0, version === 1 ? 2 : 4))
  })

  test('a frame holds the records of a write one after another; a torn one drops all of them and nothing before it', () => {
    const queue = new AppendQueue()
    const first = [['put', 'a', new Uint8Array([1]), 0], ['del', 'b']]
    const change = ['put', 'c', new Uint8Array([2]), 0]
    const second = [['req', 1, 9, [0, 2], change], ['applied', 'client-a', 3, [0, true]]]
    expect(first.every((record) => writeCommonRecord(record, queue))).toBe(true)
    const one = queue.take()?.batch as Buffer
    expect(writeRequest([change], 1, 1, 9, [0, 2], queue) && writeCommonRecord(second[1] as unknown[], queue)).toBe(true)
    const two = queue.take()?.batch as Buffer
    const file = Buffer.concat([encodeFileHeader(0), one, two])
    const parsed = parseLog(file)
    expect(parsed.ok && [...parsed.records]).toEqual([...first, ...second])
    for (const cut of [1, Math.floor(two.length / 2), two.length - FRAME_HEADER_BYTES]) {
      const torn = parseLog(file.subarray(0, file.length - cut))
      expect(torn).toMatchObject({ ok: true, tornTail: true, end: FILE_HEADER_BYTES + one.length })
      expect(torn.ok && [...torn.records].length).toBe(first.length)
    }
  })

  test('records the hand reader does not know, after ones it does in one frame, are decoded the generic way', () => {
    const body = Buffer.concat([(frameCommonRecord(['del', 'a']) as Buffer).subarray(FRAME_HEADER_BYTES), Buffer.from(new Encoder().encode(['token', 'lock', 3]))])
    const frame = Buffer.alloc(FRAME_HEADER_BYTES + body.length)
    body.copy(frame, FRAME_HEADER_BYTES)
    sealFrame(frame, 0, frame.length)
    const parsed = parseLog(Buffer.concat([encodeFileHeader(0), frame]))
    expect(parsed.ok && [...parsed.records]).toEqual([['del', 'a'], ['token', 'lock', 3]])
  })

  test.each([
    ['a record that is not an array', Buffer.from([0x01]), 'record is not an array', []], // MessagePack for the number 1
    ['a body that is not MessagePack', Buffer.from([0xc1]), 'record is not valid MessagePack', []], // 0xc1: never used
    ['a record cut short after one read by hand', Buffer.concat([(frameCommonRecord(['del', 'a']) as Buffer).subarray(FRAME_HEADER_BYTES), Buffer.from([0x93, 0xa3])]),
      'record is not valid MessagePack', [['del', 'a']]],
    ['an empty frame', Buffer.alloc(0), 'the frame holds no record', []]
  ])('%s, checksum intact, is refused when replay reaches it, naming its frame', (_, body, reason, readFromIt) => {
    const frame = Buffer.alloc(FRAME_HEADER_BYTES + body.length)
    body.copy(frame, FRAME_HEADER_BYTES)
    sealFrame(frame, 0, frame.length)
    const log = logOf(RECORDS.slice(0, 2))
    const parsed = parseLog(Buffer.concat([log, frame]))
    if (!parsed.ok) throw new Error('the framing is sound')
    const read: unknown[] = []
    expect(() => { for (const record of parsed.records) read.push(record) })
      .toThrow(`frame at byte ${log.length}: ${reason}`)
    // What came before it was read, and of the damaged frame only the records before the damage.
    expect(read).toEqual([...RECORDS.slice(0, 2), ...readFromIt])
  })

  test('binary values do not keep the whole file alive', () => {
    const parsed = parseLog(logOf(RECORDS))
    if (!parsed.ok) throw new Error('unreachable')
    const bytes = [...parsed.records][2]?.[1] as Uint8Array
    expect(bytes).toEqual(new Uint8Array([0, 1, 2, 255]))
    expect(bytes.buffer.byteLength).toBeLessThan(64)
  })
})
