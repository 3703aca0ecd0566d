import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { POSTPONE_MAX_MS } from '../../lib/host/persistence/change-log'
import { freePort } from '../helpers/ports'
import { ROOT, TEST_KEY } from '../helpers/processes'
import { Teardown } from '../helpers/teardown'
import { startWorker } from '../helpers/worker-process'

// A host under 'everysec' whose disk stops answering its fsync (test/fixtures/stalling-fsync.js
// holds it while a file exists), across processes: the host goes on answering; the changes made
// meanwhile wait in memory, unwritten, until the fsync has run POSTPONE_MAX_MS, and are then
// written without waiting for it, with a warning naming the log; a kill -9 after the stall loses
// at most the last changes.

const teardown = new Teardown()
afterEach(() => teardown.run())

const PAD = 100
// Observations this close to the limit are not held to either side of it.
const MARGIN_MS = 200

test("'everysec': an fsync that stalls holds the host's writes for 2 s at most, the host answers meanwhile and warns", async () => {
  const dir = await mkdtemp(join(tmpdir(), 'shared-state-slow-fsync-'))
  teardown.add(() => rm(dir, { recursive: true, force: true }))
  const file = join(dir, 'state.log')
  const stall = join(dir, 'stall')
  const options = { port: await freePort(), key: TEST_KEY, timeout: 60000, persist: { file, fsync: 'everysec' } }
  const host = await startWorker(teardown, options, {
    LOG_LEVEL: 'info',
    NODE_OPTIONS: `--require ${join(ROOT, 'test', 'fixtures', 'stalling-fsync.js')}`,
    FSYNC_STALL_FILE: stall
  })
  expect(host.role).toBe('host')
  await host.call('fill', 'key:', 1000, PAD)
  await writeFile(stall, '')
  // Set one key after the other until the host dies; the log's timer fsyncs within a second.
  const more = host.call('fill', 'more:', 10_000_000, PAD).catch(() => undefined)
  let held: string | undefined
  while (held === undefined) {
    held = await readFile(`${stall}.held`, 'utf8').catch(() => undefined)
    await sleep(10)
  }
  const [heldAt, heldBytes] = held.split(' ').map(Number) as [number, number]

  let sizeBefore = -1
  let answeredDuring = 0
  let seenBeforeLimit = 0
  while (Date.now() - heldAt < POSTPONE_MAX_MS + 600) {
    const size = await host.call<number>('size')
    const bytes = (await stat(file)).size
    const elapsed = Date.now() - heldAt
    if (elapsed < POSTPONE_MAX_MS - MARGIN_MS) {
      // Nothing reaches the file while the fsync is young, however many changes are answered.
      expect(bytes).toBe(heldBytes)
      seenBeforeLimit++
    }
    if (sizeBefore >= 0 && size > sizeBefore) answeredDuring++
    sizeBefore = size
    await sleep(50)
  }
  expect(seenBeforeLimit).toBeGreaterThan(0)
  expect(answeredDuring).toBeGreaterThan(0)
  // Past the limit the changes are written while the fsync is still held.
  expect((await stat(file)).size).toBeGreaterThan(heldBytes)
  expect(host.output).toContain(`an fsync of ${file} has run for over ${POSTPONE_MAX_MS / 1000} s`)
  expect(host.output.match(/has run for over/g)).toHaveLength(1)

  await rm(stall)
  await sleep(100)
  const answered = await host.call<number>('size')
  await host.kill('SIGKILL')
  await more

  // What loads is a prefix of the sets made in order, at least what was answered before the
  // stall ended but the last changes (written within milliseconds of the kill, not fsynced).
  const next = await startWorker(teardown, options, { LOG_LEVEL: 'info' })
  expect(next.role).toBe('host')
  const total = await next.call<number>('size')
  expect(total).toBeGreaterThan(answered * 0.9)
  expect(await next.call('countFilled', 'key:', 1000)).toBe(1000)
  expect(await next.call('countFilled', 'more:', total - 1000)).toBe(total - 1000)
})
