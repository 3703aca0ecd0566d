import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type FailoverWorker, startFailoverWorker } from '../helpers/failover-worker'
import { freePort } from '../helpers/ports'
import { TEST_KEY, waitFor } from '../helpers/processes'
import { Teardown } from '../helpers/teardown'

// The whole app stops (every worker SIGTERMed at once, as a cluster primary stops its workers)
// and starts again on the same persist file: values, TTLs (still counting down from where they
// were, not reset) and lock token counters are as they were.

const teardown = new Teardown()
afterEach(() => teardown.run())

const TTL = 60000

async function startApp (options: Record<string, unknown>, count: number, env: Record<string, string> = {}): Promise<FailoverWorker[]> {
  const workers: FailoverWorker[] = []
  for (let i = 0; i < count; i++) workers.push(await startFailoverWorker(teardown, options, env))
  expect(workers.map((worker) => worker.role)).toEqual(['host', ...Array(count - 1).fill('client')])
  return workers
}

async function stopApp (workers: FailoverWorker[]): Promise<void> {
  await Promise.all(workers.map((worker) => worker.terminate()))
}

test('stop every worker and start again on the same persist file: values, TTLs and lock tokens are as they were', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'shared-state-restart-'))
  teardown.add(() => rm(dir, { recursive: true, force: true }))
  const options = { port: await freePort(), key: TEST_KEY, persist: { file: join(dir, 'state.log'), fsync: 'always' } }

  const first = await startApp(options, 3)
  const [host, client] = first as [FailoverWorker, FailoverWorker]
  for (let i = 0; i < 5; i++) await client.call('incr', 'counter')
  await host.call('incr', 'counter', 10)
  await client.call('set', 'session', { user: 'ada', roles: ['admin'] }, { ttl: TTL })
  await host.call('setIn', ['config', 'limits'], [1, 2, 3])
  const tokens: number[] = []
  for (const worker of [client, host, client]) {
    const token = await worker.call<number>('acquire', 'jobs')
    tokens.push(token)
    await worker.call('release', token, 'jobs')
  }
  // Some time has run off the TTL, so a TTL that restarted from the top would show.
  await waitFor(async () => (await client.call<number>('ttl', 'session')) < TTL, 5000, 'the TTL to count down')
  const ttlBefore = await client.call<number>('ttl', 'session')

  await stopApp(first)

  const [restarted, other] = await startApp(options, 2) as [FailoverWorker, FailoverWorker]
  expect(await other.call('get', 'counter')).toBe(15)
  expect(await other.call('get', 'session')).toEqual({ user: 'ada', roles: ['admin'] })
  expect(await other.call('get', 'config')).toEqual({ limits: [1, 2, 3] })
  const ttlAfter = await other.call<number>('ttl', 'session')
  expect(ttlAfter).toBeGreaterThan(0)
  expect(ttlAfter).toBeLessThanOrEqual(ttlBefore)
  const token = await other.call<number>('acquire', 'jobs')
  expect(token).toBeGreaterThan(Math.max(...tokens))
  await other.call('release', token, 'jobs')
  // Counting goes on from the loaded value.
  expect(await restarted.call('incr', 'counter')).toBe(16)

  // A clock-based token would be higher than any earlier one too, as long as the clock only moves
  // forward. A start whose clock is ten minutes behind (an NTP step back) shows the token counter
  // itself was loaded: counting from that clock would hand out a lower token than before.
  await stopApp([restarted, other])
  const [behind] = await startApp(options, 1, { CLOCK_SHIFT_MS: String(-10 * 60 * 1000) }) as [FailoverWorker]
  expect(await behind.call('get', 'counter')).toBe(16)
  const behindToken = await behind.call<number>('acquire', 'jobs')
  expect(behindToken).toBeGreaterThan(token)
  await behind.call('release', behindToken, 'jobs')
})
