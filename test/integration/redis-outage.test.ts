import { Pool } from 'undici'
import { fire } from '../helpers/load'
import { type RunningCluster, startCluster, waitFor } from '../helpers/processes'
import { RedisServer } from '../helpers/redis'

// Redis dies under load and comes back: every call ends within the plugin's timeout (5 s by
// default) with an answer or a coded 503, none hangs, and the app recovers without a restart.

const TIMEOUT = 5000
// Beyond `timeout`: a request also waits for its turn at the HTTP server and the event loop.
const SLACK = 2500
const CODED = new Set(['FST_SHARED_STATE_HOST_LOST', 'FST_SHARED_STATE_TIMEOUT', 'FST_SHARED_STATE_LOCK_TIMEOUT'])

interface TimedAnswer {
  path: string
  status: number
  code?: string
  ms: number
}

let redis: RedisServer
let cluster: RunningCluster

beforeAll(async () => {
  redis = await RedisServer.start()
  cluster = await startCluster({ REDIS_URL: redis.url, WORKERS: '2' })
})

afterAll(async () => {
  await cluster?.stop()
  await redis?.dispose()
})

/**
 * Keeps `lanes` requests in flight, alternating between the atomic and the locked counter, until
 * `stop()` holds. A request that takes longer than `hangAfter` is recorded as a hang (status 0).
 */
async function load (url: string, lanes: number, hangAfter: number, stop: () => boolean): Promise<TimedAnswer[]> {
  const pool = new Pool(url, { connections: lanes, pipelining: 1, headersTimeout: hangAfter, bodyTimeout: hangAfter })
  const answers: TimedAnswer[] = []
  let n = 0
  async function lane (): Promise<void> {
    while (!stop()) {
      const path = n++ % 2 === 0 ? '/incr' : '/'
      const started = Date.now()
      try {
        const response = await pool.request({ method: 'GET', path })
        const body = await response.body.text()
        const code = response.statusCode === 200 ? undefined : (JSON.parse(body) as { code?: string }).code
        answers.push({ path, status: response.statusCode, code, ms: Date.now() - started })
      } catch {
        answers.push({ path, status: 0, ms: Date.now() - started })
      }
    }
  }
  try {
    await Promise.all(Array.from({ length: lanes }, lane))
  } finally {
    await pool.close()
  }
  return answers
}

test('Redis killed during load: calls fail with a coded error within timeout; restarted: calls succeed again', async () => {
  let killedAt = 0
  const running = load(cluster.url, 20, TIMEOUT * 3, () => killedAt > 0 && Date.now() - killedAt > TIMEOUT * 1.5)
  await waitFor(async () => (await fire(cluster.url, '/incr', 1, 1))[0]?.status === 200, 10000, 'a first answer')
  // Let the load run a little against a live Redis, then kill it.
  const before = Date.now()
  await waitFor(() => Date.now() - before > 500, 2000, 'some load')
  await redis.kill()
  killedAt = Date.now()
  const answers = await running

  const failures = answers.filter((answer) => answer.status !== 200)
  expect(answers.filter((answer) => answer.status === 200).length).toBeGreaterThan(0)
  expect(failures.length).toBeGreaterThan(0)
  expect(failures.filter((answer) => answer.status === 0)).toEqual([])
  for (const failure of failures) {
    expect(failure.status).toBe(503)
    expect(CODED.has(failure.code ?? '')).toBe(true)
    expect(failure.ms).toBeLessThanOrEqual(TIMEOUT + SLACK)
  }

  // The same app, not restarted: once Redis is back and every worker has reconnected (each retries
  // at most half a second apart), calls succeed again.
  await redis.restart()
  await waitFor(async () => (await fire(cluster.url, '/incr', 20, 4)).every((answer) => answer.status === 200), 15000, 'calls to succeed again')
  const after = [...await fire(cluster.url, '/incr', 200, 20), ...await fire(cluster.url, '/', 200, 20)]
  expect(after.filter((answer) => answer.status !== 200)).toEqual([])
})
