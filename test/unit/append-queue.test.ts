import { AppendQueue } from '../../lib/host/persistence/append-queue'
import { FRAME_HEADER_BYTES } from '../../lib/host/persistence/frame'
import { frameCommonRecord, writeCommonRecord } from '../../lib/host/persistence/record-fast-path'
import { encodeFileHeader, parseLog, RecordEncoder } from '../../lib/host/persistence/record-format'

// Records are written in place into the open frame of the queue's chunk: a batch taken for a
// write must keep its bytes while later records fill the chunk and the next, it must be whole
// frames, and its records must read back in order.

function change (i: number): readonly unknown[] {
  return ['batch', [['put', i % 3 === 0 ? `ключ-${i}` : `key:${i}`, new Uint8Array([i & 0xFF, 1, 2]), i], ['applied', 'client-a', i + 1, [0, i]]]]
}

function write (queue: AppendQueue, record: readonly unknown[]): void {
  if (!writeCommonRecord(record, queue)) throw new Error('took the generic way')
}

/** The records of `frames` (appended frames), as a log of them reads back. */
function recordsOf (frames: Buffer[]): unknown[][] {
  const parsed = parseLog(Buffer.concat([encodeFileHeader(0), ...frames]))
  if (!parsed.ok) throw new Error(`not a log: ${parsed.reason} at ${parsed.offset}`)
  return [...parsed.records]
}

/** How many frames `bytes` holds, walking their headers. */
function framesIn (bytes: Buffer): number {
  let frames = 0
  for (let offset = 0; offset < bytes.length; offset += FRAME_HEADER_BYTES + bytes.readUInt32BE(offset)) frames++
  return frames
}

/** The record as a log reads it back (a put's bytes come back as a Buffer). */
function readBack (record: readonly unknown[]): unknown[] {
  return recordsOf([frameCommonRecord(record) as Buffer])[0] as unknown[]
}

test('records written in place read back in order, one frame per take, across chunks, numbered in order', () => {
  const queue = new AppendQueue()
  const expected: unknown[][] = []
  const taken: Buffer[] = []
  const copies: Buffer[] = []
  for (let i = 0; i < 5000; i++) {
    const record = change(i)
    write(queue, record)
    expected.push(readBack(record))
    if (i % 700 === 699) {
      const batch = queue.take()
      if (batch === undefined) throw new Error('nothing queued')
      expect(batch.seq).toBe(i + 1)
      taken.push(batch.batch)
      copies.push(Buffer.from(batch.batch))
    }
  }
  const rest = queue.take()
  expect(rest?.seq).toBe(5000)
  taken.push(rest?.batch as Buffer)
  copies.push(Buffer.from(rest?.batch as Buffer))
  expect(queue.take()).toBeUndefined()
  // Nothing taken was overwritten by what came after it.
  expect(taken).toEqual(copies)
  // A take is one frame, unless its records filled a chunk (each chunk ends its frame).
  expect(taken.map(framesIn).every((frames) => frames <= 2)).toBe(true)
  expect(taken.reduce((bytes, batch) => bytes + batch.length, 0)).toBeLessThan(Buffer.concat(expected.map((record) => frameCommonRecord(record) as Buffer)).length)
  expect(recordsOf(taken)).toEqual(expected)
})

test('a record larger than a chunk, and a frame made elsewhere, queue whole, each frame of its own', () => {
  const queue = new AppendQueue()
  const big = ['put', 'big', new Uint8Array(300_000).fill(9), 0]
  const generic = ['token', 'lock', 7]
  write(queue, change(1))
  write(queue, big)
  queue.pushFrame(new RecordEncoder().frame(generic))
  write(queue, change(2))
  expect(queue.lastSeq).toBe(4)
  const batch = queue.take()?.batch as Buffer
  expect(framesIn(batch)).toBe(4)
  expect(recordsOf([batch])).toEqual([readBack(change(1)), readBack(big), generic, readBack(change(2))])
})

test('a cut ends the open frame: what was queued before it and what comes after are whole frames apart; clear drops the queue only', () => {
  const queue = new AppendQueue()
  write(queue, change(0))
  write(queue, change(1))
  queue.cut()
  const before = queue.bytes
  write(queue, change(2))
  const batch = queue.take()?.batch as Buffer
  // A compaction's tail begins at the cut: the bytes from there are frames of their own.
  expect(framesIn(batch)).toBe(2)
  expect(recordsOf([batch.subarray(0, before)])).toEqual([readBack(change(0)), readBack(change(1))])
  expect(recordsOf([batch.subarray(before)])).toEqual([readBack(change(2))])
  // A cut with no frame open changes nothing.
  queue.cut()
  expect(queue.bytes).toBe(0)
  write(queue, change(3))
  queue.clear()
  expect(queue.bytes).toBe(0)
  expect(queue.take()).toBeUndefined()
  write(queue, change(4))
  expect(queue.take()?.batch).toEqual(frameCommonRecord(change(4)))
})

test('a frame opened for a record that never came is dropped, not written empty', () => {
  const queue = new AppendQueue()
  queue.room(64)
  expect(queue.take()).toBeUndefined()
  write(queue, change(5))
  queue.room(64)
  expect(queue.take()?.batch).toEqual(frameCommonRecord(change(5)))
})
