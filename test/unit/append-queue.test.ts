import { AppendQueue } from '../../lib/host/persistence/append-queue'
import { frameCommonRecord, writeCommonRecord } from '../../lib/host/persistence/record-fast-path'
import { encodeFileHeader, parseLog } from '../../lib/host/persistence/record-format'

// Records are framed in place in the queue's chunks: a batch taken for a write must keep its bytes
// while later records fill the chunk and the next, and every frame must be the one a frame of its
// own would be.

function change (i: number): readonly unknown[] {
  return ['batch', [['put', i % 3 === 0 ? `ключ-${i}` : `key:${i}`, new Uint8Array([i & 0xFF, 1, 2]), i], ['applied', 'client-a', i + 1, [0, i]]]]
}

function write (queue: AppendQueue, record: readonly unknown[]): void {
  if (!writeCommonRecord(record, queue)) throw new Error('took the generic way')
}

test('frames written in place are those framed alone, across chunks, numbered in order', () => {
  const queue = new AppendQueue()
  const expected: Buffer[] = []
  const taken: Buffer[] = []
  const copies: Buffer[] = []
  for (let i = 0; i < 5000; i++) {
    const record = change(i)
    write(queue, record)
    expected.push(frameCommonRecord(record) as Buffer)
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
  expect(Buffer.concat(taken)).toEqual(Buffer.concat(expected))
  const parsed = parseLog(Buffer.concat([encodeFileHeader(0), ...taken]))
  expect(parsed.ok && [...parsed.records].length).toBe(5000)
})

test('a frame larger than a chunk, and one framed elsewhere, queue whole', () => {
  const queue = new AppendQueue()
  const big = ['put', 'big', new Uint8Array(200_000).fill(9), 0]
  write(queue, change(1))
  write(queue, big)
  const elsewhere = frameCommonRecord(change(2)) as Buffer
  queue.push(elsewhere)
  expect(queue.lastSeq).toBe(3)
  const batch = queue.take()
  expect(batch?.batch).toEqual(Buffer.concat([frameCommonRecord(change(1)) as Buffer, frameCommonRecord(big) as Buffer, elsewhere]))
})

test('a capture keeps each frame queued while it runs, taken or not; clear drops the queue only', () => {
  const queue = new AppendQueue()
  write(queue, change(0))
  const captured = queue.startCapture()
  const expected: Buffer[] = []
  for (let i = 1; i < 3000; i++) {
    // A frame larger than a chunk in the middle: the capture goes on across chunks.
    const record = i === 1500 ? ['put', 'big', new Uint8Array(300 * 1024).fill(7), 0] : change(i)
    write(queue, record)
    expected.push(frameCommonRecord(record) as Buffer)
    if (i % 1000 === 0) queue.take()
  }
  queue.endCapture()
  write(queue, change(3000))
  // Kept as slices of chunks, not a buffer per frame: the same bytes.
  expect(captured.length).toBeLessThan(10)
  expect(Buffer.concat(captured)).toEqual(Buffer.concat(expected))
  queue.clear()
  expect(queue.bytes).toBe(0)
  expect(queue.take()).toBeUndefined()
  write(queue, change(3001))
  expect(queue.take()?.batch).toEqual(frameCommonRecord(change(3001)))
})
