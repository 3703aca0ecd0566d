import { startFaultsWorker, type FaultsWorker } from '../helpers/faults-worker'
import { freePort } from '../helpers/ports'
import { TEST_KEY, waitFor } from '../helpers/processes'
import { redisForThisFile, uniquePrefix } from '../helpers/redis'
import { Teardown } from '../helpers/teardown'

// A ttl of any length a number of ms can say holds, in both modes: Node runs a timer past
// 2^31-1 ms (24.86 days) after 1 ms, so a longer deadline must be re-armed, never clamped or
// refused. A month-long rate-limit window and a 30-day session are the cases users meet.

const DAY = 24 * 60 * 60 * 1000
const MONTH = 30 * DAY
const TIMER_LIMIT = 2 ** 31 - 1

const teardown = new Teardown()
afterEach(() => teardown.run())
const redis = redisForThisFile()

type Mode = 'socket' | 'redis'

/** Two workers of one state: `first` (the host in socket mode) and `second`, which serves the rate limit. */
async function workers (mode: Mode): Promise<[FaultsWorker, FaultsWorker]> {
  const options = mode === 'socket'
    ? { port: await freePort(), key: TEST_KEY }
    : { redis: redis().url, prefix: uniquePrefix() }
  const first = await startFaultsWorker(teardown, options)
  const second = await startFaultsWorker(teardown, options, { RATE_LIMIT_WINDOW: '30 days' })
  return [first, second]
}

describe.each<Mode>(['socket', 'redis'])('%s mode', (mode) => {
  test('a 30-day rate-limit window resets after 30 days, as the built-in store says', async () => {
    const [, second] = await workers(mode)
    const reply = await second.call<{ status: number, headers: Record<string, string> }>('inject', '/limited')
    expect(reply.status).toBe(200)
    // The built-in store's header for the same window; a clamped ttl said 2147484.
    expect(Number(reply.headers['x-ratelimit-reset'])).toBeGreaterThan(MONTH / 1000 - 60)
    expect(Number(reply.headers['x-ratelimit-reset'])).toBeLessThanOrEqual(MONTH / 1000)
  })

  test('a 30-day session maxAge is the key\'s ttl, read from another worker', async () => {
    const [first, second] = await workers(mode)
    await second.call('saveSession', 'monthly', MONTH)
    const left = await first.call<number>('ttl', 'session:monthly')
    expect(left).toBeGreaterThan(MONTH - 60000)
    expect(left).toBeLessThanOrEqual(MONTH)
    expect(await first.call('has', 'session:monthly')).toBe(true)
  })

  test('a ttl past the timer limit is kept whole, and the key outlives a sweep of shorter ones', async () => {
    const [first, second] = await workers(mode)
    const ttl = TIMER_LIMIT + 10 * DAY
    await first.call('set', 'far', 'value', { ttl })
    await first.call('set', 'near', 'value', { ttl: 200 })
    // The near key's expiry runs the sweep; the far one must not be taken with it.
    await waitFor(async () => !(await second.call<boolean>('has', 'near')), 10000, 'the near key to expire')
    expect(await second.call('has', 'far')).toBe(true)
    expect(await second.call<number>('ttl', 'far')).toBeGreaterThan(TIMER_LIMIT)
    await expect(second.call('expire', 'far', 100 * 365 * DAY)).resolves.toBe(true)
    expect(await first.call<number>('ttl', 'far')).toBeGreaterThan(99 * 365 * DAY)
  })

  test('a lock wait and a lease past the timer limit are neither refused nor cut to 1 ms', async () => {
    const [first, second] = await workers(mode)
    const held = await first.call<number>('acquire', 'monthly', { ttl: MONTH })
    let waiterSettled = false
    // The longest wait there is: the deadline it carries must still be a safe integer.
    const waiting = second.call<number>('acquire', 'monthly', { timeout: Number.MAX_SAFE_INTEGER, ttl: MONTH })
    waiting.then(() => { waiterSettled = true }, () => { waiterSettled = true })
    // Round trips to the state: a wait whose timer fired after 1 ms would have failed by now.
    for (let i = 0; i < 5; i++) expect(await first.call('isLocked', 'monthly')).toBe(true)
    expect(waiterSettled).toBe(false)
    await first.call('release', held, 'monthly')
    const token = await waiting
    expect(token).toBeGreaterThan(held)
    expect(await first.call('isLocked', 'monthly')).toBe(true)
    await second.call('release', token, 'monthly')
  })
})
