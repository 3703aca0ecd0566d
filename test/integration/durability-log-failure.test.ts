import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FsyncPolicy } from '../../lib/options'
import type { StoreStats } from '../../lib/store/store'
import { runInspect } from '../helpers/inspect'
import { LimitedWorker } from '../helpers/limited-worker'
import { freePort } from '../helpers/ports'
import { TEST_KEY, waitFor } from '../helpers/processes'
import { Teardown } from '../helpers/teardown'
import { startWorker } from '../helpers/worker-process'

// The host's change log hits a file-size limit (ulimit -f, standing in for a full disk or a
// failing one): the write fails with EFBIG. From then on, in every fsync mode, the log failure is
// logged once at error level with the file and the cause, every mutation is refused with
// PERSIST before it is applied (a retried incr does not count), stats and the inspect command
// show it, and closing the host still hands the state over to a worker that carries on.

const teardown = new Teardown()
afterEach(() => teardown.run())

// 64 KiB: a few dozen 1 KiB values fill it.
const LIMIT_BLOCKS = 64
const VALUE = 'x'.repeat(1024)

test.each<FsyncPolicy>(['always', 'everysec', 'no'])('fsync %s: a failed log write stops every later change before it is applied, is reported, and the host still hands over', async (fsync) => {
  const dir = await mkdtemp(join(tmpdir(), 'shared-state-efbig-'))
  teardown.add(() => rm(dir, { recursive: true, force: true }))
  const file = join(dir, 'state.log')
  const options = { port: await freePort(), key: TEST_KEY, persist: { file, fsync } }
  const host = await LimitedWorker.startLimited(teardown, LIMIT_BLOCKS, options)
  expect(host.role).toBe('host')
  const client = await startWorker(teardown, options)

  // Fill the log until a change is refused. Under 'always' the change whose write failed is
  // answered PERSIST; under the other modes it was answered already, and the next one is refused.
  const acknowledged: string[] = []
  let refused: { code: string, message: string } | undefined
  for (let i = 0; i < 1000 && refused === undefined; i++) {
    try {
      await client.call('set', `key-${i}`, VALUE)
      acknowledged.push(`key-${i}`)
    } catch (error) {
      refused = error as { code: string, message: string }
    }
  }
  expect(refused?.code).toBe('FST_SHARED_STATE_PERSIST')
  expect(acknowledged.length).toBeGreaterThan(10)

  // Under 'everysec' and 'no' a write that failed is seen at the next turn: wait until it is.
  await waitFor(async () => (await client.failure('incr', 'probe')).code === 'FST_SHARED_STATE_PERSIST', 5000, 'the log to stop')
  // A refused change was never applied: a caller retrying an incr does not count twice.
  for (let i = 0; i < 3; i++) {
    expect((await client.failure('incr', 'counter')).code).toBe('FST_SHARED_STATE_PERSIST')
    expect((await host.failure('incr', 'counter')).code).toBe('FST_SHARED_STATE_PERSIST')
  }
  expect(await client.call('get', 'counter')).toBeUndefined()
  expect(await client.call('get', 'probe')).toBeUndefined()
  // Reads still work.
  expect(await client.call('get', acknowledged[0])).toBe(VALUE)

  // Logged once, at error level, naming the file and the cause.
  await waitFor(() => host.output.includes('the change log failed'), 5000, 'the error line')
  const lines = host.output.split('\n').filter((line) => line.includes('the change log failed'))
  expect(lines).toHaveLength(1)
  const logged = JSON.parse(lines[0] as string) as { level: number, err: { message: string } }
  expect(logged.level).toBe(50)
  expect(logged.err.message).toContain(file)
  expect(logged.err.message).toContain('EFBIG')

  // stats() and the inspect command show it.
  const stats = await client.call<StoreStats>('stats')
  expect(stats.persist).toMatchObject({ file, fsync })
  expect(stats.persist?.failure).toContain('EFBIG')
  const inspected = await runInspect(teardown, ['inspect', '--port', String(options.port)], TEST_KEY)
  expect(inspected.code).toBe(0)
  expect(inspected.stdout).toContain(`persist   ${file} (fsync ${fsync}): FAILED, changes refused`)
  expect(inspected.stdout).toContain('EFBIG')

  // The host closes without an error and hands the state over; the successor, free of the limit,
  // logs again and takes changes.
  await host.call('close')
  await waitFor(async () => await client.call('role') === 'host', 10000, 'the client to take over')
  for (const key of acknowledged) expect(await client.call('get', key)).toBe(VALUE)
  expect(await client.call('incr', 'counter')).toBe(1)
  expect((await client.call<StoreStats>('stats')).persist?.failure).toBeNull()
})
