import * as zlib from 'node:zlib'
import { Decoder, Encoder } from '@msgpack/msgpack'
import { AppendQueue } from '../../lib/host/persistence/append-queue'
import { encodeFileHeader, frameReplies, parseLog, FRAME_HEADER_BYTES, RecordEncoder } from '../../lib/host/persistence/record-format'
import { frameCommonRecord, writeRequest } from '../../lib/host/persistence/record-fast-path'
import { readNextRecord } from '../../lib/host/persistence/record-reader'
import { ValueCodec } from '../../lib/protocol/codec'
import { isSmallInteger } from '../../lib/store/memory/stored-value'

// The records framed by hand on every mutation read back exactly as the generic encoder's would,
// at every boundary of the MessagePack forms they use; anything else takes the generic way.

// -0 apart: the generic encoder writes it as 0, these frames keep it (see below).
const NUMBERS = [0, 127, 128, 2 ** 32 - 1, 2 ** 32, -1, -(2 ** 31), -(2 ** 31) - 1, 1.5, 1796035542218, Number.MAX_SAFE_INTEGER, NaN, Infinity]
const KEYS = ['', 'k', 'é', 'x'.repeat(31), 'x'.repeat(32), 'w'.repeat(64), 'w'.repeat(65), 'w'.repeat(63) + 'é', 'y'.repeat(255), 'y'.repeat(256), 'z'.repeat(65536), 'ключ 🔑']
const BYTES = [0, 1, 255, 256, 65535, 65536].map((length) => new Uint8Array(length).fill(length % 251))

function decodedBody (frame: Buffer): unknown {
  return new Decoder().decode(new Uint8Array(frame.buffer, frame.byteOffset + FRAME_HEADER_BYTES, frame.length - FRAME_HEADER_BYTES))
}

/** The common record filling `bytes[start..end)` exactly, read by hand; undefined when it is not one. */
function readCommonRecord (bytes: Buffer, start: number, end: number): unknown[] | undefined {
  const read = readNextRecord(bytes, start, end)
  return read !== undefined && read.next === end ? read.value : undefined
}

function common (record: readonly unknown[]): Buffer {
  const frame = frameCommonRecord(record)
  if (frame === undefined) throw new Error(`${String(record[0])} took the generic way`)
  return frame
}

test('put, del and applied records decode as the generic encoder writes them', () => {
  const generic = new Encoder()
  const same = (record: readonly unknown[]): void => {
    const frame = common(record)
    const decoded = new Decoder().decode(generic.encode(record))
    expect(decodedBody(frame)).toEqual(decoded)
    // And read back by hand, as a reload does, to the same record.
    const read = readCommonRecord(frame, FRAME_HEADER_BYTES, frame.length)
    expect(read).toEqual(decoded)
    expect(Object.is(read?.[3], -0)).toBe(Object.is(record[3], -0))
  }
  for (const key of KEYS) {
    same(['del', key])
    for (const bytes of BYTES) same(['put', key, bytes, 0])
  }
  for (const number of NUMBERS) {
    same(['put', 'k', BYTES[1] as Uint8Array, number])
    same(['applied', 'client-1', Math.abs(number) || 1, [0, number]])
  }
  for (const value of [null, true, false]) same(['applied', 'client-1', 7, [0, value]])
  same(['batch', [['put', 'k', BYTES[2] as Uint8Array, 0], ['del', 'j'], ['applied', 'client-1', 9, [0, 3]]]])
  same(['batch', Array.from({ length: 15 }, (_, i) => ['del', `k${i}`])])
  expect(Object.is((decodedBody(common(['applied', 'c', 1, [0, -0]])) as [string, string, number, [number, number]])[3][1], -0)).toBe(true)
})

test('frames carry valid checksums: a log of them parses, next to generic ones', () => {
  const encoder = new RecordEncoder()
  const records = [['put', 'a', new Uint8Array([1, 2]), 0], ['del', 'a'], ['applied', 'c', 300, [0, 5]], ['token', 'lock', 9],
    ['applied', 'c', 301, [0, { not: 'a number' }]], ['batch', [['put', 'b', new Uint8Array([3]), 0], ['applied', 'c', 302, [0, null]]]]]
  const body = Buffer.concat(records.map((record) => encoder.frame(record)))
  const parsed = parseLog(Buffer.concat([encodeFileHeader(0), body]))
  expect(parsed.ok && [...parsed.records]).toEqual(records)
})

test('records it does not know take the generic way', () => {
  expect(frameCommonRecord(['token', 'lock', 1])).toBeUndefined()
  expect(frameCommonRecord(['put', 'k', 'not bytes', 0])).toBeUndefined()
  expect(frameCommonRecord(['applied', 'c', 1, [1, 'CODE', 'message']])).toBeUndefined()
  expect(frameCommonRecord(['applied', 'c', 1, [0, 'text']])).toBeUndefined()
  expect(frameCommonRecord(['clear'])).toBeUndefined()
  expect(frameCommonRecord(['batch', [['del', 'a'], ['token', 'lock', 1]]])).toBeUndefined()
  expect(frameCommonRecord(['batch', Array.from({ length: 16 }, (_, i) => ['del', `k${i}`])])).toBeUndefined()
})

test('read back by hand: only the forms written by hand; any other is left to the generic decoder', () => {
  const generic = new Encoder()
  const body = (record: readonly unknown[]): Buffer => Buffer.from(generic.encode(record))
  const unread = (record: readonly unknown[]): void => {
    const bytes = body(record)
    expect(readNextRecord(bytes, 0, bytes.length)).toBeUndefined()
  }
  // The generic encoder's smaller integer forms, and negative fixints, are never written by hand.
  unread(['put', 'k', new Uint8Array([1]), 200])
  unread(['put', 'k', new Uint8Array([1]), -3])
  unread(['applied', 'c', 1000, [0, 7]])
  unread(['token', 'lock', 3])
  unread(['applied', 'c', 1, [1, 'CODE', 'message']])
  unread(['batch', [['del', 'a'], ['token', 'lock', 1]]])
  unread(['batch', [['batch', [['del', 'a']]]]])
  // A record stops where it ends (what follows is the next record of its frame); one cut short is no record.
  const frame = common(['put', 'key', new Uint8Array([1, 2, 3]), 1.5])
  expect(readNextRecord(Buffer.concat([frame, Buffer.from([0])]), FRAME_HEADER_BYTES, frame.length + 1)?.next).toBe(frame.length)
  for (let end = FRAME_HEADER_BYTES; end < frame.length; end++) expect(readCommonRecord(frame, FRAME_HEADER_BYTES, end)).toBeUndefined()
  // The generic forms still load, decoded the generic way.
  const encoder = new RecordEncoder()
  const records = [['put', 'k', new Uint8Array([1]), 200], ['applied', 'c', 1000, [0, -3]], ['put', 'k', new Uint8Array([2]), 0]]
  const frames = records.map((record) => {
    const encoded = body(record)
    const framed = Buffer.alloc(FRAME_HEADER_BYTES + encoded.length)
    encoded.copy(framed, FRAME_HEADER_BYTES)
    return framed
  })
  for (const framed of frames) {
    framed.writeUInt32BE(framed.length - FRAME_HEADER_BYTES, 0)
    framed.writeUInt32BE(zlib.crc32(framed.subarray(FRAME_HEADER_BYTES)), 4)
    framed.writeUInt32BE(zlib.crc32(framed.subarray(0, 8)), 8)
  }
  const parsed = parseLog(Buffer.concat([encodeFileHeader(0), ...frames, encoder.frame(['del', 'k'])]))
  expect(parsed.ok && [...parsed.records]).toEqual([...records, ['del', 'k']])
})

test("a request's reply and its changes frame as the 'req' record of them would", () => {
  const queue = (): AppendQueue => new AppendQueue()
  const taken = (sink: AppendQueue): Buffer | undefined => sink.take()?.batch
  const same = (changes: Array<readonly unknown[]>, client: number, id: number, reply: unknown): void => {
    const direct = queue()
    expect(writeRequest([...changes, ['spare']], changes.length, client, id, reply, direct)).toBe(true)
    const frame = taken(direct) as Buffer
    const expected = new Decoder().decode(new Encoder().encode(['req', client, id, reply, ...changes]))
    expect(decodedBody(frame)).toEqual(expected)
    expect(readCommonRecord(frame, FRAME_HEADER_BYTES, frame.length)).toEqual(expected)
    expect(parseLog(Buffer.concat([encodeFileHeader(0), frame])).ok).toBe(true)
  }
  same([], 1, 7, [0, 3])
  same([['put', 'k', BYTES[1] as Uint8Array, 0]], 300, 2 ** 31, [0, -5])
  same([['del', 'é'], ['put', 'w'.repeat(65), BYTES[3] as Uint8Array, 1796035542218]], 2 ** 32, 1, [0, null])
  same(Array.from({ length: 11 }, (_, i) => ['del', `k${i}`]), 9, 9, [0, true])
  // A set's reply: undefined, which MessagePack writes as null.
  const set = queue()
  expect(writeRequest([], 0, 1, 2, [0, undefined], set)).toBe(true)
  expect(decodedBody(taken(set) as Buffer)).toEqual(['req', 1, 2, [0, null]])
  // Anything else takes the generic way, writing nothing.
  const sink = queue()
  expect(writeRequest([], 0, 1, 1, [0, 'text'], sink)).toBe(false)
  expect(writeRequest([], 0, 1, 1, [1, 'CODE', 'message'], sink)).toBe(false)
  expect(writeRequest([['token', 'lock', 1]], 1, 1, 1, [0, 1], sink)).toBe(false)
  expect(writeRequest(Array.from({ length: 12 }, (_, i) => ['del', `k${i}`]), 12, 1, 1, [0, 1], sink)).toBe(false)
  expect(sink.bytes).toBe(0)
  // Read back by hand, as a reload does.
  const read = queue()
  writeRequest([['put', 'k', 5, 0], ['del', 'j']], 2, 4, 8, [0, 5], read)
  const frame = taken(read) as Buffer
  expect(readCommonRecord(frame, FRAME_HEADER_BYTES, frame.length)).toEqual(['req', 4, 8, [0, 5], ['put', 'k', Buffer.from([5]), 0], ['del', 'j']])
})

test("a put's value given as a small integer frames as the codec's bytes of it", () => {
  const codec = new ValueCodec()
  for (const value of [0, 1, 127, 128, 255, 256, 65535, 65536, 2 ** 31, 2 ** 32 - 1, -1, -32, -33, -128, -129, -32768, -32769, -(2 ** 31)]) {
    expect(isSmallInteger(value)).toBe(true)
    const bytes = codec.encode(value)
    expect(common(['put', 'k', value, 0])).toEqual(common(['put', 'k', bytes, 0]))
    // The generic way too (a batch too long for the hand-framed form).
    const changes = Array.from({ length: 16 }, () => ['put', 'k', value, 0])
    expect(new RecordEncoder().frame(['batch', changes])).toEqual(new RecordEncoder().frame(['batch', changes.map(() => ['put', 'k', bytes, 0])]))
    // And in a request whose reply is not a common one.
    expect(new RecordEncoder().frame(['req', 1, 2, [0, 'text'], ['put', 'k', value, 0]])).toEqual(new RecordEncoder().frame(['req', 1, 2, [0, 'text'], ['put', 'k', bytes, 0]]))
  }
  for (const value of [2 ** 32, -(2 ** 31) - 1, 1.5, -0]) expect(isSmallInteger(value)).toBe(false)
})

test('the replies kept for retries frame as their request records would, empty slots left out; a client without a number by its id', () => {
  const encoder = new RecordEncoder()
  const ids = new Float64Array([0, 5, 6, 0, 9])
  const replies = [undefined, [0, 1], [0, { not: 'a number' }], undefined, [0, null]]
  const numbered = [['req', 3, 5, [0, 1]], ['req', 3, 6, [0, { not: 'a number' }]], ['req', 3, 9, [0, null]]]
  expect(frameReplies(encoder, 'c', 3, ids, replies, 0, 5)).toEqual(encoder.frameAll(numbered))
  expect(frameReplies(encoder, 'c', 3, ids, replies, 2, 100)).toEqual(encoder.frameAll(numbered.slice(1)))
  expect(frameReplies(encoder, 'c', 3, ids, replies, 3, 4)).toEqual(Buffer.alloc(0))
  const byId = [['applied', 'c', 5, [0, 1]], ['applied', 'c', 6, [0, { not: 'a number' }]], ['applied', 'c', 9, [0, null]]]
  expect(frameReplies(encoder, 'c', undefined, ids, replies, 0, 5)).toEqual(encoder.frameAll(byId))
})

test('a request of one put, the form of nearly every mutation, frames in the bytes the general way makes', () => {
  const body = (frame: Buffer | undefined): Buffer => (frame as Buffer).subarray(FRAME_HEADER_BYTES)
  const requestBody = (changes: Array<readonly unknown[]>, client: number, id: number, reply: unknown): Buffer => {
    const sink = new AppendQueue()
    expect(writeRequest(changes, changes.length, client, id, reply, sink)).toBe(true)
    return body(sink.take()?.batch)
  }
  const values: unknown[] = [0, 1, 127, 128, 255, 256, 65535, 65536, 2 ** 32 - 1, -1, -32, -33, -129, -32769, -(2 ** 31),
    ...[0, 1, 6, 32, 33, 300].map((length) => new Uint8Array(length).fill(7))]
  const keys = ['', 'k', 'bench:n', 'x'.repeat(31), 'x'.repeat(32), 'é', 'ключ']
  const numbers = [0, -0, 1, 127, 128, 2 ** 32 - 1, 2 ** 32, -1, 1.5, 1796035542218, NaN]
  for (const key of keys) {
    for (const value of values) {
      for (const [client, id, reply, expiresAt] of [[1, 1, [0, 5], 0], [127, 128, [0, null], 1796035542218], [300, 2 ** 32 - 1, [0, undefined], -0],
        [2 ** 32, 2 ** 32, [0, true], 2 ** 32], ...numbers.map((number) => [2, 9, [0, number], number])] as Array<[number, number, unknown, number]>) {
        const put = ['put', key, value, expiresAt]
        // What the general way writes: the head of a request without changes, then the put alone.
        const head = requestBody([], client, id, reply)
        const expected = Buffer.concat([Buffer.from([0x95]), head.subarray(1), body(frameCommonRecord(put))])
        expect(requestBody([put], client, id, reply)).toEqual(expected)
      }
    }
  }
})

test("an incr's or a small set's request record is 21-42 bytes, as the README's count of the writes a reload replays assumes", () => {
  const length = (key: string, value: unknown, id: number, reply: unknown): number => {
    const sink = new AppendQueue()
    expect(writeRequest([['put', key, value, 0]], 1, 2, id, [0, reply], sink)).toBe(true)
    return (sink.take()?.batch as Buffer).length - FRAME_HEADER_BYTES
  }
  expect(length('k', 5, 100, 5)).toBe(21)
  expect(length('key:123456', new ValueCodec().encode(123456), 500000, undefined)).toBeLessThanOrEqual(42)
  expect(length('key:123456', 123456, 500000, 123456)).toBe(42)
})
