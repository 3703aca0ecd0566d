import * as fs from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { HostEngine } from '../../lib/host/host-engine'
import { ChangeLog } from '../../lib/host/persistence'
import { crc32 } from '../../lib/host/persistence/crc32'
import { encodeFileHeader, FORMAT_VERSION, RecordEncoder } from '../../lib/host/persistence/record-format'
import { closeEngine, openEngine } from '../../lib/host/persistence/state-journal'
import type { FsyncPolicy } from '../../lib/options'
import { ValueCodec } from '../../lib/protocol/codec'
import { opCode } from '../../lib/protocol/messages'

// The journal between the engine and the change log: what a request leaves in the file, and what
// a host that loads the file (after a crash) knows of the requests it already applied.

let dir: string
let file: string
const codec = new ValueCodec()
const errors: string[] = []
const log = { warn: () => {}, error: (message: string, error?: Error) => { errors.push(`${message}: ${String(error?.message)}`) } }

beforeEach(async () => {
  dir = await fs.mkdtemp(join(tmpdir(), 'state-journal-'))
  file = join(dir, 'state.log')
  errors.length = 0
})

afterEach(async () => {
  await fs.rm(dir, { recursive: true, force: true })
})

async function open (fsync: FsyncPolicy = 'always'): Promise<HostEngine> {
  return await openEngine(codec, { file, fsync }, undefined, log)
}

async function records (): Promise<unknown[][]> {
  const { log: opened, loaded } = await ChangeLog.open(file, 'no')
  await opened.close()
  return [...loaded.records]
}

test('a request\'s change and the memory of its reply are one record: a torn write keeps both or neither', async () => {
  const engine = await open()
  const store = engine.storeFor('client-a')
  const reply = await engine.execute(store, 7, opCode('incr'), ['n', 5, undefined])
  expect(reply).toEqual([0, 5])
  await closeEngine(engine)

  // The client's number first, then one record: the reply and the change.
  const written = await records()
  expect(written).toEqual([['client', 1, 'client-a'], ['req', 1, 7, [0, 5], ['put', 'n', Buffer.from(codec.encode(5)), 0]]])

  // Reloaded: the resent request gets its first answer, not a second increment.
  const reloaded = await open()
  expect(await reloaded.execute(reloaded.storeFor('client-a'), 7, opCode('incr'), ['n', 5, undefined])).toEqual([0, 5])
  expect(await reloaded.execute(reloaded.storeFor('client-a'), 0, opCode('get'), ['n'])).toEqual([0, codec.encode(5)])
  await closeEngine(reloaded)

  // A crash in the middle of that write: the record is torn, and neither half is loaded.
  const { size } = await fs.stat(file)
  await fs.truncate(file, size - 3)
  const torn = await open()
  expect(await torn.execute(torn.storeFor('client-a'), 0, opCode('get'), ['n'])).toEqual([0, undefined])
  expect(await torn.execute(torn.storeFor('client-a'), 7, opCode('incr'), ['n', 5, undefined])).toEqual([0, 5])
  await closeEngine(torn)
})

test('under always, a read made while a change waits for its fsync is answered after it; with nothing pending, at once', async () => {
  const engine = await open('always')
  const writer = engine.storeFor('client-a')
  const reader = engine.storeFor('client-b')
  const quiet = engine.execute(reader, 0, opCode('get'), ['k'])
  expect(quiet).toEqual([0, undefined])
  const write = engine.execute(writer, 1, opCode('set'), ['k', codec.encode('v'), undefined])
  const read = engine.execute(reader, 0, opCode('get'), ['k'])
  expect(write).toBeInstanceOf(Promise)
  expect(read).toBeInstanceOf(Promise)
  const order: string[] = []
  await Promise.all([
    Promise.resolve(write).then(() => order.push('write')),
    Promise.resolve(read).then(() => order.push('read'))
  ])
  expect(order).toEqual(['write', 'read'])
  expect(await read).toEqual([0, codec.encode('v')])
  await closeEngine(engine)
})

test('under everysec, replies do not wait', async () => {
  const engine = await open('everysec')
  const store = engine.storeFor('client-a')
  expect(engine.execute(store, 1, opCode('set'), ['k', codec.encode('v'), undefined])).toEqual([0, undefined])
  expect(engine.execute(store, 0, opCode('get'), ['k'])).toEqual([0, codec.encode('v')])
  await closeEngine(engine)
})

test('a compaction that ends with a tail already due starts the next: a burst of writes does not stay in the log as records', async () => {
  const engine = await open('no')
  const value = codec.encode('v'.repeat(400))
  const snapshotLength = async (): Promise<number> => {
    const header = Buffer.alloc(16)
    const handle = await fs.open(file, 'r')
    try {
      await handle.read(header, 0, 16, 0)
    } finally {
      await handle.close()
    }
    return Number(header.readBigUInt64BE(8))
  }
  const compacting = async (): Promise<boolean> => (await fs.readdir(dir)).some((name) => name.endsWith('.tmp'))
  // 20 MB of sets in one turn starts a compaction; sets go on while it runs, 2 MB a turn, until
  // its tail alone is past the size at which the log compacts (the snapshot's, 20 MB).
  for (let i = 0; i < 50_000; i++) engine.state.put(`key:${i}`, value, 0)
  let round = 0
  for (let written = 0; written < 24 * 1024 * 1024; written += 5000 * 420) {
    for (let i = 0; i < 5000; i++) engine.state.put(`key:${(round * 5000 + i) % 50_000}`, value, 0)
    round++
    await new Promise((resolve) => setImmediate(resolve))
  }
  // Then no write at all: only the end of a compaction can start the next.
  const deadline = Date.now() + 60000
  while (await compacting() || (await fs.stat(file)).size - await snapshotLength() > 16 * 1024 * 1024) {
    if (Date.now() > deadline) throw new Error('the log still holds the burst as records after 60 s')
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  const { size } = await fs.stat(file)
  expect(size - await snapshotLength()).toBeLessThan(16 * 1024 * 1024)
  await closeEngine(engine)
  const reloaded = await open('no')
  expect(reloaded.state.size).toBe(50_000)
  await closeEngine(reloaded)
})

test('a long log tail is replayed a slice at a time: the loop turns and progress is reported while it loads', async () => {
  const engine = await open('no')
  const store = engine.storeFor('client-a')
  for (let i = 1; i <= 30_000; i++) await engine.execute(store, i, opCode('set'), [`key:${i % 3000}`, codec.encode(i), 0])
  await closeEngine(engine)

  const reported: number[] = []
  let turns = 0
  const ticking = setInterval(() => { turns++ }, 0)
  const reloaded = await openEngine(codec, { file, fsync: 'no' }, undefined, log, (keys) => reported.push(keys))
  clearInterval(ticking)
  expect(reloaded.state.size).toBe(3000)
  expect(await reloaded.execute(reloaded.storeFor('client-a'), 0, opCode('get'), ['key:1'])).toEqual([0, codec.encode(27001)])
  // 30,000 records take tens of milliseconds however fast the machine, in slices of about 3:
  // reports on the way, and timers ran between them.
  expect(reported.length).toBeGreaterThanOrEqual(2)
  expect(reported.at(-1)).toBe(3000)
  expect(turns).toBeGreaterThan(0)
  await closeEngine(reloaded)
})

test('a record whose checksum holds but which cannot be decoded refuses the load, naming the file and its offset', async () => {
  const engine = await open('no')
  await engine.execute(engine.storeFor('client-a'), 1, opCode('set'), ['a', codec.encode(1), 0])
  await closeEngine(engine)
  const { size } = await fs.stat(file)
  // A frame with sound checksums around the MessagePack for the number 1, not a record.
  const { crc32 } = await import('../../lib/host/persistence/crc32')
  const body = Buffer.from([0x01])
  const frame = Buffer.alloc(13)
  frame.writeUInt32BE(1, 0)
  frame.writeUInt32BE(crc32(body), 4)
  frame.writeUInt32BE(crc32(frame.subarray(0, 8)), 8)
  body.copy(frame, 12)
  await fs.appendFile(file, frame)

  await expect(open('no')).rejects.toMatchObject({
    code: 'FST_SHARED_STATE_PERSIST',
    message: expect.stringContaining(`${file} is corrupt at byte ${size} (record is not an array); refusing to load it`)
  })
  // The refused load closed the log: the file is still there, untouched, for its owner to inspect.
  expect((await fs.stat(file)).size).toBe(size + frame.length)
})

test('clients keep their numbers across a compaction; a client the host forgot loses its number, and one seen again gets a new one', async () => {
  const { log: changes } = await ChangeLog.open(file, 'no')
  const put = (key: string, value: number): readonly unknown[] => ['put', key, value, 0]
  changes.appendRequest([put('a', 1)], 1, 'client-a', 1, [0, 1])
  changes.appendRequest([put('b', 1)], 1, 'client-b', 1, [0, 1])
  // client-b is forgotten; appends made while the compaction runs land in its tail, by number.
  const compaction = changes.compactParts([], (clientId) => clientId === 'client-a')
  changes.appendRequest([put('a', 2)], 1, 'client-a', 2, [0, 2])
  changes.appendRequest([put('b', 2)], 1, 'client-b', 2, [0, 2])
  await compaction
  changes.appendRequest([put('a', 3)], 1, 'client-a', 3, [0, 3])
  changes.appendRequest([put('c', 1)], 1, 'client-c', 1, [0, 1])
  await changes.close()

  const written = await records()
  expect(written.filter((record) => record[0] === 'client')).toEqual([['client', 1, 'client-a'], ['client', 3, 'client-b'], ['client', 4, 'client-c']])
  const engine = await open('no')
  expect(engine.applied.get('client-a', 2)).toEqual([0, 2])
  expect(engine.applied.get('client-a', 3)).toEqual([0, 3])
  expect(engine.applied.get('client-b', 2)).toEqual([0, 2])
  expect(engine.applied.get('client-c', 1)).toEqual([0, 1])
  expect(await engine.execute(engine.storeFor('client-a'), 0, opCode('get'), ['a'])).toEqual([0, codec.encode(3)])
  await closeEngine(engine)
})

test('a request record naming a client the file never defined refuses the load', async () => {
  const { log: changes } = await ChangeLog.open(file, 'no')
  changes.append(['req', 9, 1, [0, 1]])
  await changes.close()
  await expect(open('no')).rejects.toMatchObject({ code: 'FST_SHARED_STATE_PERSIST', message: expect.stringContaining('client 9, never defined') })
})

test('a log of the first format loads, and is marked as the current one before anything newer is appended to it', async () => {
  const encoder = new RecordEncoder()
  const old = Buffer.concat([encodeFileHeader(0), encoder.frame(['put', 'n', codec.encode(4), 0]), encoder.frame(['applied', 'client-a', 7, [0, 4]])])
  old.writeUInt16BE(1, 4)
  old.writeUInt32BE(crc32(old.subarray(0, 16)), 16)
  await fs.writeFile(file, old)

  const engine = await open('no')
  expect(await engine.execute(engine.storeFor('client-a'), 7, opCode('incr'), ['n', 4, undefined])).toEqual([0, 4])
  expect(await engine.execute(engine.storeFor('client-a'), 8, opCode('incr'), ['n', 1, undefined])).toEqual([0, 5])
  await closeEngine(engine)
  expect((await fs.readFile(file)).readUInt16BE(4)).toBe(FORMAT_VERSION)
  const reloaded = await open('no')
  expect(await reloaded.execute(reloaded.storeFor('client-a'), 8, opCode('incr'), ['n', 1, undefined])).toEqual([0, 5])
  expect(await reloaded.execute(reloaded.storeFor('client-a'), 0, opCode('get'), ['n'])).toEqual([0, codec.encode(5)])
  await closeEngine(reloaded)
})
