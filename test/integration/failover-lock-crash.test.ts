import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startFailoverWorker } from '../helpers/failover-worker'
import { freePort } from '../helpers/ports'
import { TEST_KEY } from '../helpers/processes'
import { Teardown } from '../helpers/teardown'

// A lock holder that outlives a crashed host. The new host cannot know who held what (a crash
// hands nothing over), so it must never let the old holder go on believing it holds the lock
// while it grants it to someone else: the new grant carries a higher token, and the old handle's
// release is refused. With and without persist: with it, token counters come from the log;
// without, from the clock.

const teardown = new Teardown()
afterEach(() => teardown.run())

async function persistOption (): Promise<Record<string, unknown>> {
  const dir = await mkdtemp(join(tmpdir(), 'shared-state-lock-'))
  teardown.add(() => rm(dir, { recursive: true, force: true }))
  return { persist: { file: join(dir, 'state.log'), fsync: 'always' } }
}

test.each([['without persist', false], ['with persist', true]])('%s: after SIGKILL of the host, a new holder gets the lock with a higher token and the old holder\'s release is refused', async (_, persist) => {
  const options = { port: await freePort(), key: TEST_KEY, ...(persist ? await persistOption() : {}) }
  const host = await startFailoverWorker(teardown, options)
  expect(host.role).toBe('host')
  const holder = await startFailoverWorker(teardown, options)
  const other = await startFailoverWorker(teardown, options)
  const held = await holder.call<number>('acquire', 'jobs')
  // While the host lives, the lock is exclusive: nobody else gets it.
  expect((await other.failure('acquire', 'jobs', { timeout: 100 })).code).toBe('FST_SHARED_STATE_LOCK_TIMEOUT')

  await host.kill('SIGKILL')

  // The survivors elect a new host among themselves; the other worker's acquire waits for it.
  const next = await other.call<number>('acquire', 'jobs', { timeout: 5000 })
  expect(next).toBeGreaterThan(held)
  expect([await holder.call('role'), await other.call('role')].sort()).toEqual(['client', 'host'])

  // The old holder finds out as soon as it asks: its handle is no longer valid...
  const failure = await holder.failure('release', held, 'jobs')
  expect(failure.code).toBe('FST_SHARED_STATE_LOCK_NOT_HELD')
  // ...and its refused release left the new holder alone.
  expect(await holder.call('isLocked', 'jobs')).toBe(true)
  expect((await holder.failure('acquire', 'jobs', { timeout: 100 })).code).toBe('FST_SHARED_STATE_LOCK_TIMEOUT')
  await other.call('release', next, 'jobs')
  expect(await holder.call('isLocked', 'jobs')).toBe(false)
  const after = await holder.call<number>('acquire', 'jobs')
  expect(after).toBeGreaterThan(next)
  await holder.call('release', after, 'jobs')
})
