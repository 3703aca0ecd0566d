import { join } from 'node:path'
import { type Answer, fire } from '../helpers/load'
import { ROOT, startCluster } from '../helpers/processes'
import { Teardown } from '../helpers/teardown'

// @fastify/rate-limit on a 4-worker node:cluster, loaded from this process: with the package's
// store, `max: 100` holds for the whole app; with the built-in in-process store each worker counts
// on its own, and the same load gets more than 100 through.

const FIXTURE = join(ROOT, 'test', 'fixtures', 'ecosystem-cluster.js')
const REQUESTS = 400
const IN_FLIGHT = 8

const teardown = new Teardown()
afterEach(() => teardown.run())

/** 400 GET /limited from a fresh 4-worker cluster using `store`. */
async function load (store: 'shared' | 'default'): Promise<Answer[]> {
  const cluster = await startCluster({ WORKERS: '4', RATE_LIMIT_STORE: store }, FIXTURE)
  teardown.add(() => cluster.stop())
  return fire(cluster.url, '/limited', REQUESTS, IN_FLIGHT)
}

/** How many answers with `status` each worker gave, by pid (only 200s carry the pid). */
function successesByWorker (answers: Answer[]): Map<number, number> {
  const byPid = new Map<number, number>()
  for (const answer of answers.filter((one) => one.status === 200)) {
    const { pid } = JSON.parse(answer.body) as { pid: number }
    byPid.set(pid, (byPid.get(pid) ?? 0) + 1)
  }
  return byPid
}

function countStatus (answers: Answer[], status: number): number {
  return answers.filter((answer) => answer.status === status).length
}

test('the shared store: 400 requests across 4 workers get exactly 100 successes and 300 429s', async () => {
  const answers = await load('shared')
  expect(answers).toHaveLength(REQUESTS)
  expect(countStatus(answers, 200)).toBe(100)
  expect(countStatus(answers, 429)).toBe(300)
  // The 100 were served by several workers: one count held across them.
  expect(successesByWorker(answers).size).toBeGreaterThan(1)
})

test('the contrast, the default in-process store: the same load gets more than 100 successes', async () => {
  const answers = await load('default')
  expect(answers).toHaveLength(REQUESTS)
  const successes = countStatus(answers, 200)
  expect(successes).toBeGreaterThan(100)
  expect(countStatus(answers, 429)).toBe(REQUESTS - successes)
  // Each worker enforces the limit, but only on its own share of the traffic.
  const byWorker = successesByWorker(answers)
  expect(byWorker.size).toBeGreaterThan(1)
  for (const count of byWorker.values()) expect(count).toBeLessThanOrEqual(100)
})
