import { type FailoverWorker, startFailoverWorker } from '../helpers/failover-worker'
import { freePort } from '../helpers/ports'
import { TEST_KEY } from '../helpers/processes'
import { Teardown } from '../helpers/teardown'

// A graceful handover keeps locks: the host, a plain process, is SIGTERMed while a client holds
// a lock. It hands its state, lock holders included, to its newest worker, which binds the socket
// and hosts; the holder, reconnected, still holds the lock, and nobody else can take it until the
// holder releases it with its old handle.

const teardown = new Teardown()
afterEach(() => teardown.run())

interface Workers {
  host: FailoverWorker
  /** The newest client: the one the closing host hands its state to. */
  successor: FailoverWorker
  second: FailoverWorker
  third: FailoverWorker
}

async function fourWorkers (): Promise<Workers> {
  const options = { port: await freePort(), key: TEST_KEY }
  const host = await startFailoverWorker(teardown, options)
  expect(host.role).toBe('host')
  // One at a time, so their age (the successor is the newest) is known.
  const second = await startFailoverWorker(teardown, options)
  const third = await startFailoverWorker(teardown, options)
  const successor = await startFailoverWorker(teardown, options)
  return { host, successor, second, third }
}

test.each([
  ['the successor', (workers: Workers) => workers.successor],
  ['another client', (workers: Workers) => workers.second]
])('the holder (%s) still holds the lock after the host is SIGTERMed, and its release succeeds', async (_, pick) => {
  const workers = await fourWorkers()
  const holder = pick(workers)
  const { host, successor, third } = workers
  const held = await holder.call<number>('acquire', 'jobs')
  await holder.call('set', 'written-before', 1)

  await host.terminate()
  expect(await successor.call('role')).toBe('host')
  // The state came along, not only the lock.
  expect(await third.call('get', 'written-before')).toBe(1)

  // Still held, by the same holder: another worker waits and times out.
  expect(await third.call('isLocked', 'jobs')).toBe(true)
  expect((await third.failure('acquire', 'jobs', { timeout: 200 })).code).toBe('FST_SHARED_STATE_LOCK_TIMEOUT')
  // The holder's handle from before the handover is still valid.
  await holder.call('release', held, 'jobs')
  expect(await third.call('isLocked', 'jobs')).toBe(false)
  const next = await third.call<number>('acquire', 'jobs')
  expect(next).toBeGreaterThan(held)
  await third.call('release', next, 'jobs')
})

test('a worker waiting for the lock at the handover keeps its place and gets the lock when the holder releases it', async () => {
  const { host, successor, second, third } = await fourWorkers()
  const held = await second.call<number>('acquire', 'jobs')
  const waiting = third.call<number>('acquire', 'jobs', { timeout: 20000 })
  waiting.catch(() => {})
  // The wait has reached the host once a later call from the same worker is answered.
  await third.call('has', 'barrier')

  await host.terminate()
  expect(await successor.call('role')).toBe('host')
  expect(await second.call('isLocked', 'jobs')).toBe(true)

  await second.call('release', held, 'jobs')
  const granted = await waiting
  expect(granted).toBeGreaterThan(held)
  expect((await successor.failure('acquire', 'jobs', { timeout: 200 })).code).toBe('FST_SHARED_STATE_LOCK_TIMEOUT')
  await third.call('release', granted, 'jobs')
})

test('an acquire resent to the successor waits only what was left of its timeout, not a new one', async () => {
  const { host, successor, second, third } = await fourWorkers()
  const held = await second.call<number>('acquire', 'jobs')
  const timeout = 6000
  const startedAt = Date.now()
  const waiting = third.failure('acquire', 'jobs', { timeout })
  await third.call('has', 'barrier')
  // Half the wait has passed when the host hands over: a wait started again by the successor
  // would end a whole timeout after the handover, at 1.5 timeouts or later.
  await new Promise((resolve) => setTimeout(resolve, timeout / 2 - (Date.now() - startedAt)))
  await host.terminate()
  expect(await successor.call('role')).toBe('host')

  expect((await waiting).code).toBe('FST_SHARED_STATE_LOCK_TIMEOUT')
  const waited = Date.now() - startedAt
  expect(waited).toBeGreaterThanOrEqual(timeout - 50)
  expect(waited).toBeLessThan(timeout * 1.5)
  await second.call('release', held, 'jobs')
})
