import { mkdtemp, open, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setImmediate as nextTurn } from 'node:timers/promises'
import { crc32 } from '../../lib/host/persistence/crc32'
import { claimedByTheDead } from '../../lib/host/persistence/owner-lock'
import { parseOptions } from '../../lib/options'
import { ValueCodec } from '../../lib/protocol/codec'
import { linkSettings } from '../../lib/socket-mode'
import { parseLog, FRAME_HEADER_BYTES } from '../../lib/host/persistence/record-format'
import { freePort } from '../helpers/ports'
import { TEST_KEY, waitFor } from '../helpers/processes'
import { Teardown } from '../helpers/teardown'
import { startWorker, type WorkerProcess } from '../helpers/worker-process'

// Crash recovery from the compact snapshot plus the log's tail, across processes and with real
// kill -9: a host killed after a compaction comes back with the snapshot's keys and the tail's,
// past a torn last record; a host killed in the middle of a compaction comes back from the old
// log, with every acknowledged key, and the abandoned snapshot is removed. The claim a killed
// host leaves on its log tells the next election that nobody is taking over, so it binds at once;
// the claim of a live host, or of a successor taking over, never does.

const teardown = new Teardown()
afterEach(() => teardown.run())

// Enough records, with values padded, to pass the size at which the log compacts (16 MiB).
const KEYS = 150_000
const PAD = 100
const TAIL = 1000

interface Persisted {
  dir: string
  file: string
  options: Record<string, unknown>
}

async function persisted (): Promise<Persisted> {
  const dir = await mkdtemp(join(tmpdir(), 'shared-state-recover-'))
  teardown.add(() => rm(dir, { recursive: true, force: true }))
  const file = join(dir, 'state.log')
  return { dir, file, options: { port: await freePort(), key: TEST_KEY, timeout: 60000, persist: { file, fsync: 'always' } } }
}

/** The snapshot section's length, from the log's header (bytes 8-15). */
async function snapshotBytes (file: string): Promise<number> {
  const handle = await open(file, 'r')
  try {
    const header = Buffer.alloc(16)
    await handle.read(header, 0, 16, 0)
    return Number(header.readBigUInt64BE(8))
  } finally {
    await handle.close()
  }
}

async function compacting (dir: string): Promise<boolean> {
  return (await readdir(dir)).some((name) => name.endsWith('.tmp'))
}

async function host (options: Record<string, unknown>): Promise<WorkerProcess> {
  const worker = await startWorker(teardown, options, { LOG_LEVEL: 'info' })
  expect(worker.role).toBe('host')
  return worker
}

test('kill -9 after a compaction: the snapshot and the tail load, a torn last record is dropped', async () => {
  const { dir, file, options } = await persisted()
  const first = await host(options)
  await first.call('fill', 'key:', KEYS, PAD)
  await waitFor(async () => await snapshotBytes(file) > 0 && !await compacting(dir), 60000, 'a compaction')
  await first.call('fill', 'tail:', TAIL)
  await first.kill('SIGKILL')
  // A record whose header reached the disk and whose body did not: a crash mid-write.
  const body = Buffer.alloc(100, 7)
  const header = Buffer.alloc(FRAME_HEADER_BYTES)
  header.writeUInt32BE(body.length, 0)
  header.writeUInt32BE(crc32(body), 4)
  header.writeUInt32BE(crc32(header.subarray(0, 8)), 8)
  // Written where the next record would have gone: after the last record, inside the zeros the
  // log grows ahead of its records under 'always'.
  const end = parseLog(await readFile(file))
  if (!end.ok) throw new Error('the killed host left a log that does not load')
  const handle = await open(file, 'r+')
  await handle.write(Buffer.concat([header, body.subarray(0, 7)]), 0, FRAME_HEADER_BYTES + 7, end.end)
  await handle.close()

  const second = await host(options)
  expect(await second.call('countFilled', 'key:', KEYS)).toBe(KEYS)
  expect(await second.call('countFilled', 'tail:', TAIL)).toBe(TAIL)
  expect(await second.call('size')).toBe(KEYS + TAIL)
  expect(second.output).toMatch(/torn write/)
})

test('kill -9 in the middle of a compaction: every acknowledged key loads from the old log', async () => {
  const { dir, file, options } = await persisted()
  const first = await host(options)
  await first.call('fill', 'key:', KEYS, PAD)
  // Writes go on until a compaction is caught writing its snapshot beside the log.
  const more = first.call('fill', 'more:', 10_000_000, PAD).catch(() => undefined)
  const deadline = Date.now() + 60000
  while (!await compacting(dir)) {
    if (Date.now() > deadline) throw new Error('no compaction seen within 60 s')
    await nextTurn()
  }
  await first.kill('SIGKILL')
  await more

  const second = await host(options)
  expect(await second.call('countFilled', 'key:', KEYS)).toBe(KEYS)
  // Whatever of the second fill reached the log loads whole: every key holds its own value.
  const size = await second.call<number>('size')
  expect(await second.call('countFilled', 'more:', 10_000_000)).toBe(size - KEYS)
  expect(second.output).not.toMatch(/corrupt/)
  // The snapshot the killed host left half-written is gone once the log is opened again.
  expect(await compacting(dir)).toBe(false)
  expect(await snapshotBytes(file)).toBeGreaterThanOrEqual(0)
})

test("a host killed holding its log leaves a claim read as nobody taking over; a live host's, or a successor's, is not", async () => {
  const { file, options } = await persisted()
  const first = await host(options)
  await first.call('fill', 'key:', 1000)
  const second = await startWorker(teardown, options)
  expect(second.role).toBe('client')
  expect(await claimedByTheDead(file)).toBe(false)
  // A graceful handover: the successor claims the log before it binds the port.
  await first.call('close')
  await waitFor(async () => await second.call('role') === 'host', 20000, 'the successor to host')
  expect(await claimedByTheDead(file)).toBe(false)
  await second.kill('SIGKILL')
  expect(await claimedByTheDead(file)).toBe(true)
  // What a worker's election asks when nobody answers.
  const settings = linkSettings(parseOptions(options), new ValueCodec(), { info: () => {}, warn: () => {}, error: () => {} })
  expect(await settings.lastHostDied?.()).toBe(true)
  // The next host takes the claim over and loads every key.
  const third = await host(options)
  expect(await claimedByTheDead(file)).toBe(false)
  expect(await third.call('countFilled', 'key:', 1000)).toBe(1000)
})
