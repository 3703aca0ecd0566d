import { spawn, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import * as fs from 'node:fs/promises'
import { hostname, tmpdir } from 'node:os'
import { join } from 'node:path'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { ChangeLog, type LoadedLog } from '../../lib/host/persistence'
import { POSTPONE_MAX_MS } from '../../lib/host/persistence/change-log'
import type { FsyncPolicy } from '../../lib/options'
import { claimedByTheDead, processStart } from '../../lib/host/persistence/owner-lock'
import { FILE_HEADER_BYTES, RecordEncoder } from '../../lib/host/persistence/record-format'

const POLICIES: FsyncPolicy[] = ['always', 'everysec', 'no']

let dir: string
let file: string
let openLogs: ChangeLog[] = []

beforeEach(async () => {
  dir = await fs.mkdtemp(join(tmpdir(), 'change-log-'))
  file = join(dir, 'state.log')
})

afterEach(async () => {
  jest.restoreAllMocks()
  const logs = openLogs
  openLogs = []
  await Promise.all(logs.map(async (log) => await log.close().catch(() => {})))
  await fs.rm(dir, { recursive: true, force: true })
})

async function openLog (policy: FsyncPolicy = 'always'): ReturnType<typeof ChangeLog.open> {
  const opened = await ChangeLog.open(file, policy)
  openLogs.push(opened.log)
  return opened
}

function record (i: number): unknown[] {
  return ['set', `key-${i % 17}`, i, i % 3 === 0 ? null : `value ${i}`, new Uint8Array([i & 0xFF, 7])]
}

/** A loaded log with its records read out (they are decoded as they are iterated). */
function listed (loaded: LoadedLog): { records: unknown[][], tornTail: boolean } {
  return { records: [...loaded.records], tornTail: loaded.tornTail }
}

function records (from: number, to: number): unknown[][] {
  const list: unknown[][] = []
  for (let i = from; i < to; i++) list.push(record(i))
  return list
}

/** FileHandle's prototype, so a test can make every handle's write or fsync fail or wait. */
async function fileHandlePrototype (): Promise<Record<'write' | 'datasync' | 'sync', (...args: unknown[]) => Promise<unknown>>> {
  const probe = await fs.open(join(dir, 'probe'), 'w')
  await probe.close()
  return Object.getPrototypeOf(probe)
}

function ioError (code: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: injected by the test`), { code })
}

/** A promise the test resolves when it chooses. */
function gate (): { opened: Promise<void>, open: () => void } {
  let open!: () => void
  const opened = new Promise<void>((resolve) => { open = resolve })
  return { opened, open }
}

/**
 * Holds every fsync (datasync) of the log until `release()`; `started` resolves once one is held,
 * with the moment (performance.now()) the first was asked for.
 */
async function holdFsyncs (): Promise<{ started: Promise<number>, release: () => void }> {
  const proto = await fileHandlePrototype()
  const original = proto.datasync
  let firstAt: number | undefined
  const started = gate()
  const released = gate()
  jest.spyOn(proto, 'datasync').mockImplementation(async function (this: unknown, ...args: unknown[]) {
    firstAt ??= performance.now()
    started.open()
    await released.opened
    return await original.apply(this, args)
  })
  return { started: started.opened.then(() => firstAt as number), release: released.open }
}

/** Counts the writes to files from now on (not to the test's own stdout or stderr). */
function countFileWrites (): () => number {
  const realFs = jest.requireActual<typeof import('node:fs')>('node:fs')
  const writeSync = jest.spyOn(realFs, 'writeSync')
  return () => writeSync.mock.calls.filter(([fd]) => fd > 2).length
}

/** The log's writes and fsyncs from now on, in the order made: 'write' or 'fsync'. */
async function fileCalls (): Promise<Array<'write' | 'fsync'>> {
  const calls: Array<'write' | 'fsync'> = []
  const realFs = jest.requireActual<typeof import('node:fs')>('node:fs')
  const writeSync = realFs.writeSync
  // Writes to files, not to the test's own stdout or stderr.
  jest.spyOn(realFs, 'writeSync').mockImplementation(((fd: number, ...rest: unknown[]) => {
    if (fd > 2) calls.push('write')
    return (writeSync as (...args: unknown[]) => number)(fd, ...rest)
  }) as typeof realFs.writeSync)
  const proto = await fileHandlePrototype()
  const datasync = proto.datasync
  jest.spyOn(proto, 'datasync').mockImplementation(async function (this: unknown, ...args: unknown[]) {
    calls.push('fsync')
    return await datasync.apply(this, args)
  })
  return calls
}

/**
 * The bytes of ArrayBuffers still reachable: collected twice, with turns between, as the buffers a
 * collection finds dead are freed a moment after it.
 */
async function arrayBufferBytes (): Promise<number> {
  setFlagsFromString('--expose-gc')
  const gc = runInNewContext('gc') as () => void
  for (let i = 0; i < 2; i++) {
    gc()
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  return process.memoryUsage().arrayBuffers
}

/** XORs one byte of `bytes` with `mask`: damage as a bad disk or a stray write would do. */
function flipBits (bytes: Buffer, at: number, mask: number): void {
  bytes.writeUInt8(bytes.readUInt8(at) ^ mask, at)
}

async function nextTurn (): Promise<void> {
  await new Promise((resolve) => setImmediate(resolve))
}

async function expectPersistError (promise: Promise<unknown>): Promise<Error & { code: string, cause?: unknown }> {
  const error = await promise.then(() => { throw new Error('expected a rejection') }, (error: unknown) => error)
  expect(error).toMatchObject({ code: 'FST_SHARED_STATE_PERSIST' })
  return error as Error & { code: string, cause?: unknown }
}

describe.each(POLICIES)('round trip with fsync: %s', (policy) => {
  test('every record comes back, in order, across reopens', async () => {
    const first = await openLog(policy)
    expect(listed(first.loaded)).toEqual({ records: [], tornTail: false })
    for (const r of records(0, 600)) first.log.append(r)
    await first.log.durable()
    for (const r of records(600, 700)) first.log.append(r)
    await first.log.close()

    const second = await openLog(policy)
    expect(listed(second.loaded)).toEqual({ records: records(0, 700), tornTail: false })
    for (const r of records(700, 1000)) second.log.append(r)
    await second.log.durable()
    await second.log.close()

    const third = await openLog(policy)
    expect([...third.loaded.records]).toEqual(records(0, 1000))
    expect(third.log.appendedBytes).toBe((await fs.stat(file)).size - FILE_HEADER_BYTES)
    expect(third.log.snapshotBytes).toBe(0)
  })
})

describe('durability policies', () => {
  test("'always': a thousand appends in one turn cost one write and one fsync", async () => {
    const { log } = await openLog('always')
    const before = log.stats
    for (const r of records(0, 1000)) log.append(r)
    await Promise.all([log.durable(), log.durable(), log.durable()])
    expect(log.stats).toEqual({ writes: before.writes + 1, fsyncs: before.fsyncs + 1 })
  })

  test("'always': records arriving while an fsync runs get one of their own at once; those arriving while two run share the next", async () => {
    const { log } = await openLog('always')
    // The first write grows the file ahead: done before the fsyncs are counted.
    log.append(record(100))
    await log.durable()
    const before = log.stats
    const proto = await fileHandlePrototype()
    const original = proto.datasync
    const held = gate()
    const twoSyncing = gate()
    let calls = 0
    jest.spyOn(proto, 'datasync').mockImplementation(async function (this: unknown, ...args: unknown[]) {
      if (++calls <= 2) {
        if (calls === 2) twoSyncing.open()
        await held.opened
      }
      return await original.apply(this, args)
    })
    log.append(record(0))
    const first = log.durable()
    await nextTurn()
    log.append(record(1))
    const second = log.durable()
    await twoSyncing.opened
    // Five turns of appends while both fsyncs are held: each turn is written, none is fsynced yet.
    const later: Array<Promise<void>> = []
    for (let turn = 2; turn <= 6; turn++) {
      log.append(record(turn))
      later.push(log.durable())
      await nextTurn()
    }
    expect(log.stats).toEqual({ writes: before.writes + 7, fsyncs: before.fsyncs + 2 })
    held.open()
    await Promise.all([first, second, ...later])
    expect(log.stats).toEqual({ writes: before.writes + 7, fsyncs: before.fsyncs + 3 })
  })

  test("'always': durable() waits for the fsync, not only the write", async () => {
    const { log } = await openLog('always')
    const fsyncs = await holdFsyncs()
    log.append(record(1))
    let settled = false
    const durable = log.durable().then(() => { settled = true })
    while (log.stats.writes === 0) await nextTurn()
    await nextTurn()
    expect(settled).toBe(false)
    fsyncs.release()
    await durable
    expect(settled).toBe(true)
  })

  test("'everysec': durable() resolves after the write; a timer fsyncs within a second", async () => {
    const { log } = await openLog('everysec')
    for (const r of records(0, 100)) log.append(r)
    await log.durable()
    expect(log.stats.writes).toBe(1)
    while (log.stats.fsyncs === 0) await new Promise((resolve) => setTimeout(resolve, 50))
    expect(log.stats.fsyncs).toBe(1)
  })

  test("'everysec': records appended while the log's fsync runs are written once it returns, not during it", async () => {
    const { log } = await openLog('everysec')
    const fileWrites = countFileWrites()
    const fsyncs = await holdFsyncs()
    log.append(record(0))
    await log.durable()
    await fsyncs.started
    const writesBefore = fileWrites()
    for (const r of records(1, 50)) log.append(r)
    // Well past the 2 ms a write waits for more records: none is made while the fsync runs.
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(fileWrites()).toBe(writesBefore)
    const durable = log.durable()
    fsyncs.release()
    await durable
    expect(fileWrites()).toBeGreaterThan(writesBefore)
    await log.close()
    expect(listed((await openLog('everysec')).loaded).records).toEqual(records(0, 50))
  })

  test(`'everysec': an fsync running over ${POSTPONE_MAX_MS} ms holds the writes no more, and a warning says so once`, async () => {
    const { log } = await openLog('everysec')
    const warnings: string[] = []
    log.warn = (message) => { warnings.push(message) }
    const fsyncs = await holdFsyncs()
    log.append(record(0))
    await log.durable()
    // When the log asked for the fsync, not when this test heard of it: a busy machine may part them.
    const heldAt = await fsyncs.started
    const fileWrites = countFileWrites()
    // Records keep coming while the fsync is held: each arms a write, postponed until the limit.
    let i = 1
    let writesWithinLimit = -1
    try {
      while (performance.now() - heldAt < POSTPONE_MAX_MS + 300) {
        log.append(record(i++))
        await new Promise((resolve) => setTimeout(resolve, 20))
        if (performance.now() - heldAt < POSTPONE_MAX_MS - 200) writesWithinLimit = fileWrites()
      }
      expect(writesWithinLimit).toBe(0)
      expect(fileWrites()).toBeGreaterThan(0)
      await log.durable()
      expect(warnings).toEqual([expect.stringContaining(`has run for over ${POSTPONE_MAX_MS / 1000} s`)])
    } finally {
      fsyncs.release()
    }
    await log.close()
    expect(listed((await openLog('everysec')).loaded).records).toEqual(records(0, i))
  })

  test(`'everysec': a compaction waiting to switch files behind a slow fsync holds the writes no longer than ${POSTPONE_MAX_MS} ms either`, async () => {
    const { log } = await openLog('everysec')
    const fsyncs = await holdFsyncs()
    log.append(record(0))
    await log.durable()
    const heldAt = await fsyncs.started
    // The snapshot is written and fsynced (sync, not the held datasync); its switch waits for the log's fsync.
    const compaction = log.compact([['snapshot']])
    const fileWrites = countFileWrites()
    let i = 1
    try {
      while (performance.now() - heldAt < POSTPONE_MAX_MS + 300) {
        log.append(record(i++))
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
      expect(fileWrites()).toBeGreaterThan(0)
    } finally {
      fsyncs.release()
    }
    await compaction
    await log.close()
    expect(listed((await openLog('everysec')).loaded).records).toEqual([['snapshot'], ...records(1, i)])
  })

  test("'no': never fsyncs appended records, even on close", async () => {
    const { log } = await openLog('no')
    for (const r of records(0, 100)) log.append(r)
    await log.durable()
    await log.close()
    expect(log.stats).toEqual({ writes: 1, fsyncs: 0 })
  })

  test('durable() with nothing appended resolves at once', async () => {
    const { log } = await openLog('always')
    await log.durable()
    expect(log.stats).toEqual({ writes: 0, fsyncs: 0 })
  })
})

describe('torn tail', () => {
  async function writeLog (count: number): Promise<void> {
    const { log } = await openLog('always')
    for (const r of records(0, count)) log.append(r)
    await log.close()
  }

  test('a log cut short by a few bytes loads the rest, is cut back, and takes appends', async () => {
    await writeLog(50)
    const { size } = await fs.stat(file)
    await fs.truncate(file, size - 3)

    const reopened = await openLog('always')
    expect(listed(reopened.loaded)).toEqual({ records: records(0, 49), tornTail: true })
    const lastFrame = new RecordEncoder().frame(record(49)).length
    expect((await fs.stat(file)).size).toBe(size - lastFrame)
    reopened.log.append(record(1000))
    await reopened.log.close()

    const again = await openLog('always')
    expect(listed(again.loaded)).toEqual({ records: [...records(0, 49), record(1000)], tornTail: false })
  })

  test('half a record appended at the end is dropped', async () => {
    await writeLog(20)
    const frame = new RecordEncoder().frame(record(20))
    await fs.appendFile(file, frame.subarray(0, Math.floor(frame.length / 2)))

    const reopened = await openLog('everysec')
    expect(listed(reopened.loaded)).toEqual({ records: records(0, 20), tornTail: true })
    reopened.log.append(record(21))
    await reopened.log.close()
    expect(listed((await openLog('no')).loaded)).toEqual({ records: [...records(0, 20), record(21)], tornTail: false })
  })
})

describe("room grown ahead under 'always'", () => {
  const framed = (list: unknown[][]): number => list.reduce<number>((bytes, r) => bytes + new RecordEncoder().frame(r).length, 0)

  /** The log's file as a crash would leave it once `count` records are durable: a copy taken while it is open. */
  async function crashCopy (count: number): Promise<string> {
    const { log } = await openLog('always')
    for (const r of records(0, count)) log.append(r)
    await log.durable()
    expect((await fs.stat(file)).size).toBeGreaterThan(FILE_HEADER_BYTES + framed(records(0, count)))
    const copy = join(dir, 'crashed.log')
    await fs.copyFile(file, copy)
    return copy
  }

  test('zeros after the last record are not a torn record: every durable record loads and the file is cut back to them', async () => {
    const copy = await crashCopy(200)
    const reopened = await ChangeLog.open(copy, 'always')
    openLogs.push(reopened.log)
    expect(listed(reopened.loaded)).toEqual({ records: records(0, 200), tornTail: false })
    expect((await fs.stat(copy)).size).toBe(FILE_HEADER_BYTES + framed(records(0, 200)))
    reopened.log.append(record(1000))
    await reopened.log.close()
    const again = await ChangeLog.open(copy, 'always')
    openLogs.push(again.log)
    expect(listed(again.loaded)).toEqual({ records: [...records(0, 200), record(1000)], tornTail: false })
  })

  test('a record torn inside the room is dropped as a torn tail, the records before it kept', async () => {
    const copy = await crashCopy(50)
    const frame = new RecordEncoder().frame(record(50))
    const handle = await fs.open(copy, 'r+')
    await handle.write(frame.subarray(0, frame.length - 4), 0, frame.length - 4, FILE_HEADER_BYTES + framed(records(0, 50)))
    await handle.close()
    const reopened = await ChangeLog.open(copy, 'always')
    openLogs.push(reopened.log)
    expect(listed(reopened.loaded)).toEqual({ records: records(0, 50), tornTail: true })
  })

  test('a closed log ends at its last record', async () => {
    const { log } = await openLog('always')
    for (const r of records(0, 300)) log.append(r)
    await log.close()
    expect((await fs.stat(file)).size).toBe(FILE_HEADER_BYTES + framed(records(0, 300)))
  })
})

describe('corruption', () => {
  test('a damaged byte in the middle refuses to load, naming the file and the offset', async () => {
    const { log } = await openLog('always')
    for (const r of records(0, 30)) log.append(r)
    await log.close()
    const encoder = new RecordEncoder()
    const recordStart = FILE_HEADER_BYTES + encoder.frameAll(records(0, 10)).length
    const bytes = await fs.readFile(file)
    flipBits(bytes, recordStart + 15, 0x01)
    await fs.writeFile(file, bytes)

    const error = await expectPersistError(ChangeLog.open(file, 'always'))
    expect(error.message).toContain(file)
    expect(error.message).toContain(`at byte ${recordStart}`)
    expect(await fs.readFile(file)).toEqual(bytes)
  })

  test('a file that is not a log is refused and left alone', async () => {
    await fs.writeFile(file, 'precious data that is not a change log\n')
    const error = await expectPersistError(ChangeLog.open(file, 'always'))
    expect(error.message).toContain(`${file} is corrupt at byte 0`)
    expect(await fs.readFile(file, 'utf8')).toBe('precious data that is not a change log\n')
  })

  test('a log in a missing directory fails with the coded error', async () => {
    const error = await expectPersistError(ChangeLog.open(join(dir, 'missing', 'state.log'), 'always'))
    expect(error.cause).toMatchObject({ code: 'ENOENT' })
  })
})

describe('compaction', () => {
  test('replaces the log with the snapshot, keeps concurrent appends, and shrinks the file', async () => {
    const { log } = await openLog('always')
    for (const r of records(0, 2000)) log.append(r)
    await log.durable()
    // The records' end, not the file's: under 'always' the file runs on in zeros until closed.
    const before = FILE_HEADER_BYTES + log.appendedBytes

    const snapshot = [['snapshot', 'key-1', 1], ['snapshot', 'key-2', 2]]
    const compaction = log.compact(snapshot)
    expect(log.compacting).toBe(true)
    await expectPersistError(log.compact(snapshot))
    const concurrent = records(5000, 5010)
    for (const r of concurrent.slice(0, 5)) log.append(r)
    await nextTurn()
    for (const r of concurrent.slice(5)) log.append(r)
    await compaction
    await log.durable()
    expect(log.compacting).toBe(false)

    const after = FILE_HEADER_BYTES + log.snapshotBytes + log.appendedBytes
    expect(after).toBeLessThan(before / 10)
    expect(log.snapshotBytes).toBe(new RecordEncoder().frameAll(snapshot).length)
    expect(log.appendedBytes).toBe(new RecordEncoder().frameAll(concurrent).length)
    expect(await fs.readdir(dir)).toEqual(expect.not.arrayContaining([expect.stringMatching(/\.tmp$/)]))

    log.append(record(9999))
    await log.close()
    expect((await fs.stat(file)).size).toBe(after + new RecordEncoder().frame(record(9999)).length)
    const reopened = await openLog('always')
    expect(listed(reopened.loaded)).toEqual({ records: [...snapshot, ...concurrent, record(9999)], tornTail: false })
    expect(reopened.log.snapshotBytes).toBe(log.snapshotBytes)
  })

  test('appends made while the new file is switched in go after the snapshot', async () => {
    const { log } = await openLog('no')
    for (const r of records(0, 100)) log.append(r)
    // Under 'no' the log never fsyncs; the only datasync is the snapshot's, inside the switch.
    const fsyncs = await holdFsyncs()
    const compaction = log.compact([['snapshot']])
    log.append(record(100))
    await fsyncs.started
    log.append(record(101))
    const durable = log.durable()
    await nextTurn()
    fsyncs.release()
    await Promise.all([compaction, durable])
    await log.close()
    expect([...(await openLog('no')).loaded.records]).toEqual([['snapshot'], record(100), record(101)])
  })

  test('a compaction that fails before the rename leaves the old log complete and in use', async () => {
    const { log } = await openLog('no')
    for (const r of records(0, 100)) log.append(r)
    const proto = await fileHandlePrototype()
    jest.spyOn(proto, 'datasync').mockRejectedValueOnce(ioError('EIO'))
    const compaction = log.compact([['snapshot']])
    log.append(record(100))
    const error = await expectPersistError(compaction)
    expect(error.cause).toMatchObject({ code: 'EIO' })
    expect((await fs.readdir(dir)).filter((name) => name.endsWith('.tmp'))).toEqual([])
    log.append(record(101))
    await log.durable()
    await log.close()
    expect([...(await openLog('no')).loaded.records]).toEqual(records(0, 102))
  })

  test('a snapshot is written a part at a time; one that fails after a part leaves no file and the old log in use', async () => {
    const { log } = await openLog('everysec')
    for (const r of records(0, 100)) log.append(r)
    let listing: Promise<string[]> | undefined
    function * parts (): Generator<unknown[][]> {
      yield [['snapshot', 1]]
      // The first part is in the temporary file before the second is taken.
      listing = fs.readdir(dir)
      yield [['snapshot', 2]]
      throw new Error('the state could not be walked')
    }
    const error = await expectPersistError(log.compactParts(parts()))
    expect(error.message).toContain('the state could not be walked')
    expect((await listing)?.some((name) => name.endsWith('.tmp'))).toBe(true)
    expect((await fs.readdir(dir)).filter((name) => name.endsWith('.tmp'))).toEqual([])
    log.append(record(100))
    await log.close()
    expect([...(await openLog('no')).loaded.records]).toEqual(records(0, 101))
  })

  test.each(POLICIES)('no record is lost or doubled across repeated compactions under load (%s)', async (policy) => {
    // A counter: 'add' records move it, a snapshot is one 'total' record. Replaying the log must
    // give the number of adds, whichever turn each compaction started and finished in.
    const { log } = await openLog(policy)
    let total = 0
    let compactions = 0
    let running: Promise<void> | undefined
    // At least 300 turns, and on until two compactions have finished, however slow the disk.
    for (let turn = 0; turn < 300 || compactions < 2; turn++) {
      const adds = (turn * 7) % 13
      for (let i = 0; i < adds; i++) {
        log.append(['add', 1])
        total++
      }
      if (turn % 40 === 5 && running === undefined) {
        running = log.compact([['total', total]]).then(() => {
          compactions++
          running = undefined
        })
      }
      if (turn % 3 === 0) await log.durable()
      await nextTurn()
    }
    await running
    await log.close()
    expect(compactions).toBeGreaterThan(1)
    const { loaded } = await openLog(policy)
    let replayed = 0
    for (const [kind, n] of loaded.records as Iterable<[string, number]>) replayed = kind === 'total' ? n : replayed + n
    expect(replayed).toBe(total)
  })

  test('the records appended during a compaction are not held in memory: the tail is read back from the old file', async () => {
    const { log } = await openLog('no')
    for (const r of records(0, 10)) log.append(r)
    // The snapshot's fsync is held, so the compaction stays open while 128 MiB of records come.
    const proto = await fileHandlePrototype()
    const sync = proto.sync
    const held = gate()
    const syncing = gate()
    jest.spyOn(proto, 'sync').mockImplementation(async function (this: unknown, ...args: unknown[]) {
      syncing.open()
      await held.opened
      return await sync.apply(this, args)
    })
    const compaction = log.compact([['snapshot']])
    await syncing.opened
    const before = await arrayBufferBytes()
    const RECORDS = 2048
    const big = (i: number): unknown[] => ['big', i, new Uint8Array(64 * 1024).fill(i & 0xFF)]
    for (let i = 0; i < RECORDS; i++) {
      log.append(big(i))
      if (i % 64 === 63) await log.durable()
    }
    await log.durable()
    const grown = await arrayBufferBytes() - before
    held.open()
    await compaction
    // A fraction of the 128 MiB appended (a chunk or two of the queue, and what the collector has
    // not freed yet), where holding the tail kept all of it and more.
    expect(grown).toBeLessThan(32 * 1024 * 1024)
    await log.close()
    let count = 0
    let last: unknown[] = []
    for (const record of (await openLog('no')).loaded.records) {
      if (count++ === 0) expect(record).toEqual(['snapshot'])
      last = record
    }
    expect(count).toBe(1 + RECORDS)
    expect(last).toEqual(['big', RECORDS - 1, Buffer.from(new Uint8Array(64 * 1024).fill((RECORDS - 1) & 0xFF))])
  })

  test('a snapshot left by a compaction in a dead process is removed on open', async () => {
    const dead = spawnSync(process.execPath, ['-e', '']).pid
    const abandoned = `${file}.${dead}-0badf00d.tmp`
    await fs.writeFile(abandoned, 'half a snapshot')
    await fs.writeFile(join(dir, 'unrelated.tmp'), 'not ours')
    await openLog('always')
    // The open log's lock file stays while it is open.
    expect((await fs.readdir(dir)).sort()).toEqual(['state.log', 'state.log.lock', 'unrelated.tmp'])
  })
})

describe('one host per log', () => {
  test('a second open of a log in use is refused, naming the owner; a close frees it', async () => {
    const { log } = await openLog('always')
    const error = await expectPersistError(ChangeLog.open(file, 'always', undefined, 0))
    expect(error.message).toContain(`in use by process ${process.pid}`)
    expect(error.message).toContain(`${file}.lock`)
    await log.close()
    expect(await fs.readdir(dir)).toEqual(['state.log'])
    await openLog('always')
  })

  test('a log claimed by a live process elsewhere is refused; one left by a dead process is taken over', async () => {
    const lock = `${file}.lock`
    // This test's parent process is alive and is not this process.
    const started = processStart(process.ppid) ?? String(Date.now())
    await fs.writeFile(lock, JSON.stringify({ pid: process.ppid, host: hostname(), started }))
    const error = await expectPersistError(ChangeLog.open(file, 'always', undefined, 0))
    expect(error.message).toContain(`in use by process ${process.ppid}`)
    const dead = spawnSync(process.execPath, ['-e', '']).pid
    await fs.writeFile(lock, JSON.stringify({ pid: dead, host: hostname(), started }))
    await openLog('always')
    expect(JSON.parse(await fs.readFile(lock, 'utf8'))).toMatchObject({ pid: process.pid })
  })

  test('an open waits a moment for a live owner to let go, as a successor does during a graceful handover', async () => {
    const { log } = await openLog('always')
    const closing = new Promise((resolve) => setTimeout(resolve, 100)).then(async () => await log.close())
    const opened = await ChangeLog.open(file, 'always', undefined, 5000)
    openLogs.push(opened.log)
    await closing
  })

  test('a lock file with nothing readable in it is stale once it stays so', async () => {
    const lock = `${file}.lock`
    await fs.writeFile(lock, '')
    const old = new Date(Date.now() - 60000)
    await fs.utimes(lock, old, old)
    await openLog('always')
  })

  test('a pid in a lock that now belongs to another process (a reboot, a restarted container) is stale', async () => {
    const lock = `${file}.lock`
    const earlier = (processStart(process.pid) ?? String(Date.now())).replace(/\d+$/, '1')
    // The parent process is alive, but started at another time than the lock says.
    await fs.writeFile(lock, JSON.stringify({ pid: process.ppid, host: hostname(), started: earlier }))
    const { log } = await openLog('always')
    await log.close()
    // This very pid, in an earlier life.
    await fs.writeFile(lock, JSON.stringify({ pid: process.pid, host: hostname(), started: earlier }))
    await openLog('always')
  })
})

describe('a claim left by the dead', () => {
  test('tells only of a process on this machine that no longer runs', async () => {
    const lock = `${file}.lock`
    expect(await claimedByTheDead(file)).toBe(false)
    const { log } = await openLog('always')
    // Held by this very process.
    expect(await claimedByTheDead(file)).toBe(false)
    await log.close()
    expect(await claimedByTheDead(file)).toBe(false)
    const started = processStart(process.ppid) ?? String(Date.now())
    await fs.writeFile(lock, JSON.stringify({ pid: process.ppid, host: hostname(), started }))
    expect(await claimedByTheDead(file)).toBe(false)
    const dead = spawnSync(process.execPath, ['-e', '']).pid
    await fs.writeFile(lock, JSON.stringify({ pid: dead, host: hostname(), started }))
    expect(await claimedByTheDead(file)).toBe(true)
    // Another machine's process cannot be checked: it may be alive.
    await fs.writeFile(lock, JSON.stringify({ pid: dead, host: `not-${hostname()}`, started }))
    expect(await claimedByTheDead(file)).toBe(false)
    // Being written, or left half-written: nothing to tell from.
    await fs.writeFile(lock, '')
    expect(await claimedByTheDead(file)).toBe(false)
  })

  test('tells of a process that exited and awaits its parent (a zombie), as a host killed a moment ago may', async () => {
    // The parent blocks its thread (Atomics.wait) right after starting `true`, so its event loop,
    // which would reap the child, never runs: `true` stays a zombie until the parent is killed.
    const script = "const child = require('node:child_process').spawn('true'); process.stdout.write(child.pid + '\\n'); " +
      'Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 30000)'
    const parent = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'ignore'] })
    try {
      const [line] = await once(parent.stdout, 'data') as [Buffer]
      const zombie = Number(String(line).trim())
      const stat = async (): Promise<string> => await fs.readFile(`/proc/${zombie}/stat`, 'latin1')
      const deadline = Date.now() + 5000
      while (!/\) Z /.test(await stat()) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10))
      expect(await stat()).toMatch(/\) Z /)
      const started = processStart(zombie)
      expect(started).toBeDefined()
      await fs.writeFile(`${file}.lock`, JSON.stringify({ pid: zombie, host: hostname(), started }))
      expect(await claimedByTheDead(file)).toBe(true)
      // And the log is taken over at once.
      await openLog('always')
    } finally {
      parent.kill('SIGKILL')
    }
  })
})

describe('close', () => {
  test('is idempotent, flushes what is queued, and refuses appends after', async () => {
    const { log } = await openLog('everysec')
    for (const r of records(0, 10)) log.append(r)
    const first = log.close()
    expect(log.close()).toBe(first)
    await first
    await log.close()
    expect(() => log.append(record(11))).toThrow(expect.objectContaining({ code: 'FST_SHARED_STATE_PERSIST' }))
    await expectPersistError(log.compact([]))
    expect([...(await openLog('no')).loaded.records]).toEqual(records(0, 10))
  })

  test("under 'everysec' the records it writes are fsynced, also when records written before wait for their fsync", async () => {
    const { log } = await openLog('everysec')
    const calls = await fileCalls()
    log.append(record(0))
    // Written, not yet fsynced (the timer's fsync is up to a second away): then one more is queued.
    await log.durable()
    await nextTurn()
    log.append(record(1))
    await log.close()
    expect(calls.at(-1)).toBe('fsync')
    expect(calls.filter((call) => call === 'write')).toHaveLength(2)
  })

  test('waits for a running compaction', async () => {
    const { log } = await openLog('always')
    for (const r of records(0, 100)) log.append(r)
    const compaction = log.compact([['snapshot']])
    log.append(record(100))
    await log.close()
    await compaction
    expect([...(await openLog('always')).loaded.records]).toEqual([['snapshot'], record(100)])
  })
})

describe('write failures', () => {
  // Records are written on the loop's thread (writeSync), whatever the policy.
  test.each(['always', 'everysec', 'no'] as const)("a failed write rejects durable() with the coded error and fails the log for good (fsync '%s')", async (policy) => {
    const { log } = await openLog(policy)
    // The module itself, not the copy an `import * as` makes of it.
    jest.spyOn(jest.requireActual<typeof import('node:fs')>('node:fs'), 'writeSync').mockImplementationOnce(() => { throw ioError('ENOSPC') })
    log.append(record(1))
    const error = await expectPersistError(log.durable())
    expect(error.message).toContain(file)
    expect(error.cause).toMatchObject({ code: 'ENOSPC' })
    log.append(record(2))
    expect(await expectPersistError(log.durable())).toBe(error)
    expect(await expectPersistError(log.close())).toBe(error)
  })

  test("under 'always', room that cannot be grown ahead (a full disk) leaves the log working without it", async () => {
    const { log } = await openLog('always')
    const warnings: Array<[string, Error]> = []
    log.warn = (message, error) => warnings.push([message, error])
    const write = jest.spyOn(await fileHandlePrototype(), 'write').mockRejectedValueOnce(ioError('ENOSPC'))
    log.append(record(1))
    await log.durable()
    expect(write).toHaveBeenCalledTimes(1)
    // Said once, naming the file and the cause, as a coded error.
    expect(warnings).toHaveLength(1)
    expect(warnings[0]?.[0]).toContain(file)
    expect(warnings[0]?.[1]).toMatchObject({ code: 'FST_SHARED_STATE_PERSIST', cause: { code: 'ENOSPC' } })
    for (const r of records(2, 50)) log.append(r)
    await log.durable()
    expect(write).toHaveBeenCalledTimes(1)
    await log.close()
    expect(listed((await openLog('always')).loaded)).toEqual({ records: [record(1), ...records(2, 50)], tornTail: false })
  })

  test("a failed fsync under 'always' rejects durable()", async () => {
    const { log } = await openLog('always')
    const proto = await fileHandlePrototype()
    jest.spyOn(proto, 'datasync').mockRejectedValueOnce(ioError('EIO'))
    log.append(record(1))
    const error = await expectPersistError(log.durable())
    expect(error.cause).toMatchObject({ code: 'EIO' })
  })

  test('a value MessagePack cannot encode throws at append and leaves the log usable', async () => {
    const { log } = await openLog('always')
    expect(() => log.append([() => 1])).toThrow(expect.objectContaining({ code: 'FST_SHARED_STATE_PERSIST' }))
    log.append(record(1))
    await log.durable()
  })
})
