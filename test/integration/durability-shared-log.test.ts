import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from '../helpers/ports'
import { TEST_KEY } from '../helpers/processes'
import { Teardown } from '../helpers/teardown'
import { startFailure, startWorker } from '../helpers/worker-process'

// Two apps (two sockets) given one persist file would both append to it and interleave their
// records. The second is refused, naming the process that holds the log; once that process is
// gone, by a close or a SIGKILL, the log can be opened again and holds what was written.

const teardown = new Teardown()
afterEach(() => teardown.run())

test('a second host on the same persist file is refused while the first lives; the log opens again after a close or a kill -9', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'shared-state-shared-log-'))
  teardown.add(() => rm(dir, { recursive: true, force: true }))
  const persist = { file: join(dir, 'state.log'), fsync: 'always' }
  const first = await startWorker(teardown, { port: await freePort(), key: TEST_KEY, persist })
  expect(first.role).toBe('host')
  await first.call('set', 'written', 'by the first')

  const refused = await startFailure({ port: await freePort(), key: TEST_KEY, persist })
  expect(refused.code).toBe('FST_SHARED_STATE_PERSIST')
  expect(refused.message).toContain(`in use by process ${first.pid}`)
  expect(refused.message).toContain(`${persist.file}.lock`)
  // The refused host wrote nothing: the first one's log is intact and still its own.
  expect(JSON.parse(await readFile(`${persist.file}.lock`, 'utf8'))).toMatchObject({ pid: first.pid })
  expect(await first.call('incr', 'n')).toBe(1)

  await first.call('close')
  const second = await startWorker(teardown, { port: await freePort(), key: TEST_KEY, persist })
  expect(await second.call('get', 'written')).toBe('by the first')
  await second.call('set', 'written', 'by the second')

  // A host killed with SIGKILL leaves its lock file behind, naming a dead process: taken over.
  await second.kill('SIGKILL')
  expect(JSON.parse(await readFile(`${persist.file}.lock`, 'utf8'))).toMatchObject({ pid: second.pid })
  const third = await startWorker(teardown, { port: await freePort(), key: TEST_KEY, persist })
  expect(await third.call('get', 'written')).toBe('by the second')
  expect(await third.call('get', 'n')).toBe(1)
})
