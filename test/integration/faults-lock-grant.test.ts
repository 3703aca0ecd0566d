import { startFaultsWorker } from '../helpers/faults-worker'
import { freePort } from '../helpers/ports'
import { TEST_KEY, waitFor } from '../helpers/processes'
import { Teardown } from '../helpers/teardown'

// A lock granted to nobody: the host's event loop is blocked (a slow request, a GC pause) while a
// worker's acquire waits in its socket; the worker gives up; the host, reading the acquire late,
// must not leave the lock held by a caller that is gone. The host refuses to grant past the
// caller's deadline (plus the call timeout it allows for the answer's way back), and a grant that
// still reaches a worker that gave up is given back by that worker at once.

const BLOCK_MS = 1500

const teardown = new Teardown()
afterEach(() => teardown.run())

async function blockedHostScenario (hostTimeout: number, clientTimeout: number): Promise<{ code: string, stillLocked: () => Promise<boolean>, other: () => Promise<number> }> {
  const port = await freePort()
  const host = await startFaultsWorker(teardown, { port, key: TEST_KEY, timeout: hostTimeout })
  expect(host.role).toBe('host')
  const client = await startFaultsWorker(teardown, { port, key: TEST_KEY, timeout: clientTimeout })
  const other = await startFaultsWorker(teardown, { port, key: TEST_KEY })
  await host.call('blockOnSet', 'block:now', BLOCK_MS)
  // The set reaches the host first and blocks its loop inside the listener; the acquire sent
  // right behind it is read only once the loop is free again, long after its 100 ms.
  // The set itself may time out too; what matters is the acquire.
  const [, failure] = await Promise.all([
    client.call('set', 'block:now', 1).catch(() => null),
    client.failure('acquire', 'late', { timeout: 100 })
  ])
  return {
    code: failure.code,
    stillLocked: () => other.call<boolean>('isLocked', 'late'),
    other: () => other.call<number>('acquire', 'late', { timeout: 10000 })
  }
}

test('the host reads the acquire past the caller\'s deadline and call timeout: it grants nothing', async () => {
  const scenario = await blockedHostScenario(300, 300)
  expect(['FST_SHARED_STATE_TIMEOUT', 'FST_SHARED_STATE_LOCK_TIMEOUT']).toContain(scenario.code)
  expect(await scenario.stillLocked()).toBe(false)
  // The lock is free for the next caller at once, not when the gone caller's process exits.
  await expect(scenario.other()).resolves.toBeGreaterThan(0)
})

test('the grant reaches a worker that already gave up: the worker gives it back at once', async () => {
  // The host allows 5 s for the answer's way back, so it grants; the worker stopped waiting
  // after 100 + 300 ms and answered its caller TIMEOUT.
  const scenario = await blockedHostScenario(5000, 300)
  expect(scenario.code).toBe('FST_SHARED_STATE_TIMEOUT')
  await waitFor(async () => !(await scenario.stillLocked()), 10000, 'the late grant to be given back')
  await expect(scenario.other()).resolves.toBeGreaterThan(0)
})
