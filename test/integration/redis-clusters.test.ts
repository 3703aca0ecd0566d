import { fire, oneTo } from '../helpers/load'
import { type RunningCluster, startCluster } from '../helpers/processes'
import { RedisServer } from '../helpers/redis'

// More than one machine, played by two separate clusters of the example app (two primaries, two
// HTTP ports, 2 workers each) on one redis-server: every request of either counts exactly once.

let redis: RedisServer
const clusters: RunningCluster[] = []

beforeAll(async () => {
  redis = await RedisServer.start()
  for (let i = 0; i < 2; i++) clusters.push(await startCluster({ REDIS_URL: redis.url, WORKERS: '2' }))
})

afterAll(async () => {
  for (const cluster of clusters) await cluster.stop()
  await redis?.dispose()
})

function numbers (answers: Array<{ status: number, body: string }>): number[] {
  expect(answers.filter((answer) => answer.status !== 200)).toEqual([])
  return answers.map((answer) => Number(answer.body)).sort((a, b) => a - b)
}

async function fireAtBoth (path: string, total: number): Promise<number[]> {
  const [one, two] = clusters as [RunningCluster, RunningCluster]
  const answers = await Promise.all([fire(one.url, path, total / 2, 50), fire(two.url, path, total / 2, 50)])
  return numbers(answers.flat())
}

test('every worker of both clusters works on Redis', async () => {
  for (const cluster of clusters) {
    const answers = await fire(cluster.url, '/stats', 40, 4)
    const roles = new Set(answers.map((answer) => (JSON.parse(answer.body) as { role: string }).role))
    expect(roles).toEqual(new Set(['redis']))
  }
})

test('GET /incr: 3,000 concurrent requests split between the two clusters answer exactly 1..3,000', async () => {
  expect(await fireAtBoth('/incr', 3000)).toEqual(oneTo(3000))
})

test('GET / (read, add, write under the shared lock): 3,000 requests answer exactly 1..3,000', async () => {
  expect(await fireAtBoth('/', 3000)).toEqual(oneTo(3000))
})
