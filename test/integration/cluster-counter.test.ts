import { fire, oneTo } from '../helpers/load'
import { type RunningCluster, startCluster } from '../helpers/processes'

// The seed's promise, kept: the example app on a 4-worker node:cluster, loaded from this process
// (another process than the app's), answers a counter that counts every request exactly once.

let cluster: RunningCluster

beforeAll(async () => {
  cluster = await startCluster({ WORKERS: '4' })
})

afterAll(async () => {
  await cluster?.stop()
})

function numbers (answers: Array<{ status: number, body: string }>): number[] {
  expect(answers.filter((answer) => answer.status !== 200)).toEqual([])
  return answers.map((answer) => Number(answer.body)).sort((a, b) => a - b)
}

test('GET /incr: 10,000 requests, 100 in flight, answer exactly 1..10,000', async () => {
  const answers = await fire(cluster.url, '/incr', 10000, 100)
  expect(numbers(answers)).toEqual(oneTo(10000))
})

test('GET / (the seed pattern under the shared lock, with { read }, passed on in-process): 10,000 requests answer exactly 1..10,000', async () => {
  const answers = await fire(cluster.url, '/', 10000, 100)
  expect(numbers(answers)).toEqual(oneTo(10000))
})

test('GET /as-written (the same section, each step its own call): 4,000 requests answer exactly 1..4,000', async () => {
  // The counter `/` left behind is the start: /as-written continues it.
  const start = Number((await fire(cluster.url, '/as-written', 1, 1))[0]?.body)
  const answers = await fire(cluster.url, '/as-written', 4000, 100)
  expect(numbers(answers)).toEqual(oneTo(4000).map((n) => n + start))
})

test('every worker answers, and exactly one of them is the host', async () => {
  const answers = await fire(cluster.url, '/stats', 200, 20)
  const roles = new Map<number, string>()
  for (const answer of answers) {
    const { pid, role } = JSON.parse(answer.body) as { pid: number, role: string }
    roles.set(pid, role)
  }
  expect(roles.size).toBe(4)
  expect([...roles.values()].filter((role) => role === 'host')).toHaveLength(1)
})
