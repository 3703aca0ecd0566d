import { RedisServer } from '../helpers/redis'
import { waitFor } from '../helpers/processes'
import { WorkerProcess } from '../helpers/worker-process'

// A lock in Redis outlives the process that holds it only as long as its lease: the holder renews
// it while it lives, and when it is killed nobody renews it any more.

// The lease of a lock taken without a ttl (DEFAULT_LEASE in lib/store/redis/redis-locks.ts).
const LEASE = 10000
// How late a waiter may notice a lapsed lease: its retry interval and a loaded machine.
const SLACK = 1500

let redis: RedisServer
const workers: WorkerProcess[] = []

beforeAll(async () => {
  redis = await RedisServer.start()
})

afterEach(async () => {
  for (const worker of workers.splice(0)) await worker.stop()
})

afterAll(async () => {
  await redis?.dispose()
})

async function start (): Promise<WorkerProcess> {
  const worker = await WorkerProcess.start({ redis: redis.url })
  workers.push(worker)
  return worker
}

test('a holder that lives keeps its lease; a holder killed loses the lock within its lease', async () => {
  const holder = await start()
  const waiter = await start()
  expect([holder.role, waiter.role]).toEqual(['redis', 'redis'])

  const token = await holder.call<number>('acquire', 'job')
  // Past one whole lease, the lock is still held: the holder's process renews it.
  const acquiredAt = Date.now()
  await waitFor(async () => {
    expect(await waiter.call('isLocked', 'job')).toBe(true)
    return Date.now() - acquiredAt > LEASE + 1000
  }, LEASE * 2, 'one lease to pass')

  const next = waiter.call<number>('acquire', 'job', { timeout: LEASE * 3 })
  await holder.kill()
  const killedAt = Date.now()
  const nextToken = await next
  expect(Date.now() - killedAt).toBeLessThanOrEqual(LEASE + SLACK)
  expect(nextToken).toBeGreaterThan(token)
  await waiter.call('release', nextToken, 'job')
})

test('with a ttl there is no renewal: a killed holder loses the lock after its ttl', async () => {
  const holder = await start()
  const waiter = await start()
  const token = await holder.call<number>('acquire', 'report', { ttl: 1500 })
  await holder.kill()
  const killedAt = Date.now()
  const nextToken = await waiter.call<number>('acquire', 'report', { timeout: 10000 })
  expect(Date.now() - killedAt).toBeLessThanOrEqual(1500 + SLACK)
  expect(nextToken).toBeGreaterThan(token)
  await waiter.call('release', nextToken, 'report')
})
