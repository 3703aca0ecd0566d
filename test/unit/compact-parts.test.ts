import * as fs from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ChangeLog } from '../../lib/host/persistence'
import { HostEngine } from '../../lib/host/host-engine'
import { openEngine, closeEngine } from '../../lib/host/persistence/state-journal'
import { ValueCodec } from '../../lib/protocol/codec'

// A snapshot written a part at a time while changes go on: what the log replays is the state at
// the end, whichever part each change fell between.

let dir: string

beforeEach(async () => {
  dir = await fs.mkdtemp(join(tmpdir(), 'compact-parts-'))
})

afterEach(async () => {
  await fs.rm(dir, { recursive: true, force: true })
})

test('records appended between parts are replayed after the snapshot, and nothing is lost', async () => {
  const file = join(dir, 'state.log')
  const { log } = await ChangeLog.open(file, 'no')
  log.append(['old'])
  function * parts (): Generator<unknown[][]> {
    for (let part = 0; part < 5; part++) {
      yield [['snapshot', part]]
      // A change made while the snapshot is being taken.
      log.append(['during', part])
    }
  }
  await log.compactParts(parts())
  log.append(['after'])
  await log.close()
  const reopened = await ChangeLog.open(file, 'no')
  await reopened.log.close()
  expect([...reopened.loaded.records]).toEqual([
    ...[0, 1, 2, 3, 4].map((part) => ['snapshot', part]),
    ...[0, 1, 2, 3, 4].map((part) => ['during', part]),
    ['after']
  ])
})

test('a compaction of a state of many parts, changed while it runs, reloads as the state at the end', async () => {
  const codec = new ValueCodec()
  const persist = { file: join(dir, 'state.log'), fsync: 'no' as const }
  const log = { warn: jest.fn(), error: jest.fn() }
  const engine = await openEngine(codec, persist, undefined, log)
  for (let i = 0; i < 20_000; i++) engine.state.set(`k:${i}`, codec.encode(i), 0)
  // The journal compacts on its own past a few MiB of log; this state is smaller, so ask.
  ;(engine.journal as unknown as { compact: () => void }).compact()
  // Changes on both sides of wherever the walk has got to.
  for (let turn = 0; turn < 20; turn++) {
    await new Promise((resolve) => setImmediate(resolve))
    engine.state.set(`k:${turn * 997}`, codec.encode(-1), 0)
    engine.state.delete(`k:${19_999 - turn * 991}`)
    engine.state.set(`new:${turn}`, codec.encode(turn), 0)
  }
  const expected = engine.state.entries('').map(([key, raw]) => [key, codec.decode(raw)])
  await closeEngine(engine)
  engine.close(new Error('closed'))
  const reloaded = await openEngine(codec, persist, undefined, log)
  try {
    expect(reloaded.state.entries('').map(([key, raw]) => [key, codec.decode(raw)])).toEqual(expected)
    expect(log.warn).not.toHaveBeenCalled()
    expect(log.error).not.toHaveBeenCalled()
  } finally {
    await closeEngine(reloaded)
    reloaded.close(new Error('closed'))
  }
})

test('HostEngine snapshots leave the entries out when asked', () => {
  const codec = new ValueCodec()
  const engine = new HostEngine(codec)
  engine.state.set('a', codec.encode(1), 0)
  expect(engine.snapshot({ entries: false }).state).toEqual({ entries: [], clock: 1 })
  expect(engine.snapshot().state.entries).toHaveLength(1)
  engine.close(new Error('closed'))
})
