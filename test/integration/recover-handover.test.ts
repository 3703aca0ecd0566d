import { startFailoverWorker } from '../helpers/failover-worker'
import { freePort } from '../helpers/ports'
import { TEST_KEY, waitFor } from '../helpers/processes'
import { Teardown } from '../helpers/teardown'

// A graceful handover of a large state is paced by its progress, not by one deadline: with a
// connectTimeout far below what moving 300,000 keys takes, every key arrives, and the calls a
// worker makes meanwhile wait and succeed. A successor killed while it opens the state is
// replaced by the next candidate, and nothing is lost.

const teardown = new Teardown()
afterEach(() => teardown.run())

const KEYS = 300_000
const INFO = { LOG_LEVEL: 'info' }

async function filledHost (options: Record<string, unknown>): Promise<Awaited<ReturnType<typeof startFailoverWorker>>> {
  const host = await startFailoverWorker(teardown, options, INFO)
  expect(host.role).toBe('host')
  expect(await host.call('fill', 'key:', KEYS)).toBe(KEYS)
  return host
}

test('300,000 keys handed over with a small connectTimeout: every key arrives, calls made meanwhile succeed', async () => {
  // Registration, election and each step of the handover have this long; the whole does not.
  const options = { port: await freePort(), key: TEST_KEY, connectTimeout: 400, timeout: 60000 }
  const host = await filledHost(options)
  const caller = await startFailoverWorker(teardown, options)
  // The newest worker: the one the host hands its state to.
  const successor = await startFailoverWorker(teardown, options, INFO)

  caller.increment('during', 300, 3, 5)
  await waitFor(() => caller.acked >= 10, 30000, 'increments before the handover')
  await host.terminate(60000)
  const { issued, answers, failures } = await caller.incremented(60000)

  expect(failures).toEqual([])
  expect(answers).toHaveLength(issued)
  expect(await successor.call('role')).toBe('host')
  expect(host.output).toMatch(/handed \d+ keys over to worker/)
  expect(host.output).not.toMatch(/did not take the state/)
  expect(successor.output).toMatch(/receiving the state of the closing host/)
  expect(successor.output).toMatch(/opening the state handed over \([\d.]+ MB of entries, \d+ keys restored as they came/)
  expect(await caller.call('countFilled', 'key:', KEYS)).toBe(KEYS)
  expect(await caller.call('get', 'during')).toBe(issued)
})

test('a successor SIGKILLed while it receives the state: the next candidate takes over, nothing lost', async () => {
  const options = { port: await freePort(), key: TEST_KEY, connectTimeout: 1000, timeout: 60000 }
  const host = await filledHost(options)
  const next = await startFailoverWorker(teardown, options)
  const doomed = await startFailoverWorker(teardown, options, INFO)

  // Killed the moment it says the first part arrived: the rest is still on its way.
  const receiving = new Promise<void>((resolve) => {
    doomed.child.stdout?.on('data', () => {
      if (!/receiving the state of the closing host/.test(doomed.output)) return
      doomed.child.kill('SIGKILL')
      resolve()
    })
  })
  const closing = host.terminate(60000)
  await receiving
  await closing
  expect(doomed.output).not.toMatch(/opening the state handed over/)

  expect(host.output).toMatch(/did not take the state/)
  expect(await next.call('role')).toBe('host')
  expect(await next.call('countFilled', 'key:', KEYS)).toBe(KEYS)
  expect(await next.call('size')).toBe(KEYS)
})

test('a successor that stops moving (SIGSTOP) is given up after connectTimeout without progress; the next takes over, nothing lost', async () => {
  const options = { port: await freePort(), key: TEST_KEY, connectTimeout: 1000, timeout: 60000 }
  const host = await filledHost(options)
  const next = await startFailoverWorker(teardown, options)
  const stalled = await startFailoverWorker(teardown, options, INFO)
  // Killed by teardown even while stopped (SIGKILL needs no SIGCONT).
  teardown.add(() => { if (!stalled.exited) stalled.child.kill('SIGKILL') })

  const receiving = new Promise<void>((resolve) => {
    stalled.child.stdout?.on('data', () => {
      if (!/receiving the state of the closing host/.test(stalled.output)) return
      stalled.child.kill('SIGSTOP')
      resolve()
    })
  })
  const closing = host.terminate(60000)
  await receiving
  await closing

  expect(host.output).toMatch(/did not take the state/)
  expect(await next.call('role')).toBe('host')
  expect(await next.call('countFilled', 'key:', KEYS)).toBe(KEYS)
})
