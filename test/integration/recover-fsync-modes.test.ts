import { mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setImmediate as nextTurn } from 'node:timers/promises'
import { freePort } from '../helpers/ports'
import { TEST_KEY } from '../helpers/processes'
import { Teardown } from '../helpers/teardown'
import { startWorker, type WorkerProcess } from '../helpers/worker-process'

// kill -9 of a host in the middle of its writes, under each fsync mode, across processes: the log
// written so far loads (a torn last record at most, never a corrupt log), every record in it loads
// whole, and, as records reach the file in the order they were made, what is lost is a suffix of
// the changes, never one from the middle. (What 'always' promises beyond this, that no
// acknowledged change is lost, failover-host-killed checks under load.)

const teardown = new Teardown()
afterEach(() => teardown.run())

const KEYS = 20_000
const PAD = 100
// The host is killed once the log has grown this much past where it stood when the second fill
// began, so its writes are under way. Under 'always' the file grows 4 MiB at a time in zeros ahead
// of its records: the kill comes just after such a growth, and the log loads with the zeros cut.
const GROWTH_BYTES = 1024 * 1024

async function host (options: Record<string, unknown>): Promise<WorkerProcess> {
  const worker = await startWorker(teardown, options, { LOG_LEVEL: 'info' })
  expect(worker.role).toBe('host')
  return worker
}

test.each(['always', 'everysec', 'no'])("fsync '%s': kill -9 mid-write loses at most a suffix of the changes, and the log loads", async (fsync) => {
  const dir = await mkdtemp(join(tmpdir(), 'shared-state-modes-'))
  teardown.add(() => rm(dir, { recursive: true, force: true }))
  const file = join(dir, 'state.log')
  const options = { port: await freePort(), key: TEST_KEY, timeout: 60000, persist: { file, fsync } }
  const first = await host(options)
  await first.call('fill', 'key:', KEYS, PAD)
  const before = (await stat(file)).size
  // Set one key after the other, in order, until the host dies.
  const more = first.call('fill', 'more:', 10_000_000, PAD).catch(() => undefined)
  const deadline = Date.now() + 60000
  while ((await stat(file)).size < before + GROWTH_BYTES) {
    if (Date.now() > deadline) throw new Error('the log did not grow within 60 s')
    await nextTurn()
  }
  await first.kill('SIGKILL')
  await more

  const second = await host(options)
  expect(second.output).not.toMatch(/corrupt/)
  // The two fills set key:0 .. key:<KEYS - 1>, then more:0, more:1 ... one after the other: what
  // loads is a prefix of that sequence, each key with its own value.
  const total = await second.call<number>('size')
  expect(total).toBeGreaterThan(0)
  const inFirst = Math.min(total, KEYS)
  expect(await second.call('countFilled', 'key:', inFirst)).toBe(inFirst)
  expect(await second.call('countFilled', 'more:', total - inFirst)).toBe(total - inFirst)
})
