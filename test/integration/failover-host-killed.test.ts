import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { request } from 'undici'
import { fireThroughFailures } from '../helpers/load'
import { type RunningCluster, startCluster, waitFor } from '../helpers/processes'
import { Teardown } from '../helpers/teardown'

// The host worker of a 4-worker cluster is killed with SIGKILL in the middle of 3,000 concurrent
// increments, with persist and fsync 'always'. The survivors elect a new host, which loads the
// log; the cluster primary forks a new worker. Requests that were in flight on the killed worker
// itself die with it (they are attempted, not acknowledged); every acknowledged increment must be
// in the final value, and no two requests may get the same answer.

const teardown = new Teardown()
afterEach(() => teardown.run())

const REQUESTS = 3000
const IN_FLIGHT = 50
// The host is killed once this many answers came back: well inside the load.
const KILL_AFTER = 600

/** pid -> role of the workers that answered `count` GET /stats over `connections` connections. */
async function roles (cluster: RunningCluster, count = 40, connections = 8): Promise<Map<number, string>> {
  const seen = new Map<number, string>()
  for (const answer of await fireThroughFailures(cluster.url, '/stats', count, connections)) {
    if (answer.status !== 200) continue
    const { pid, role } = JSON.parse(answer.body) as { pid: number, role: string }
    seen.set(pid, role)
  }
  return seen
}

async function hostPid (cluster: RunningCluster): Promise<number> {
  let pid: number | undefined
  await waitFor(async () => {
    pid = [...(await roles(cluster))].find(([, role]) => role === 'host')?.[0]
    return pid !== undefined
  }, 10000, 'a worker that answers as host')
  return pid as number
}

async function incr (cluster: RunningCluster): Promise<number> {
  const response = await request(`${cluster.url}/incr`, { headersTimeout: 30000, bodyTimeout: 30000 })
  expect(response.statusCode).toBe(200)
  return Number(await response.body.text())
}

test('SIGKILL of the host mid-load with persist (fsync always): every acknowledged increment survives, answers are unique, one host serves after', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'shared-state-killed-'))
  teardown.add(() => rm(dir, { recursive: true, force: true }))
  // node:cluster's default round-robin primary accepts each connection and hands it to a worker;
  // one handed to the worker being killed is lost and hangs until the client gives up
  // (nodejs/node#3551), about one run in eight here. That is the cluster's failure, not the
  // plugin's, so this test lets the kernel give each connection to a living worker instead.
  const cluster = await startCluster({
    WORKERS: '4', PERSIST_FILE: join(dir, 'state.log'), PERSIST_FSYNC: 'always', NODE_CLUSTER_SCHED_POLICY: 'none'
  })
  teardown.add(() => cluster.stop())
  const victim = await hostPid(cluster)

  let killed = false
  const answers = await fireThroughFailures(cluster.url, '/incr', REQUESTS, IN_FLIGHT, (_, answered) => {
    if (killed || answered < KILL_AFTER) return
    killed = true
    process.kill(victim, 'SIGKILL')
  })
  expect(killed).toBe(true)

  const acknowledged = answers.filter((answer) => answer.status === 200).map((answer) => Number(answer.body))
  // Whatever failed, failed with the killed worker's connections (its requests in flight), not
  // with an error from the plugin: the other workers' calls waited for the new host.
  const failed = answers.filter((answer) => answer.status !== 200)
  expect(failed.filter((answer) => answer.status !== 0 || !/ECONNRESET|UND_ERR_SOCKET/.test(answer.body))).toEqual([])
  expect(failed.length).toBeLessThanOrEqual(IN_FLIGHT)
  expect(acknowledged.length).toBe(REQUESTS - failed.length)
  // No two requests got the same answer.
  expect(new Set(acknowledged).size).toBe(acknowledged.length)

  // The final value, read through the app: one more increment, minus itself.
  const final = await incr(cluster) - 1
  // Every acknowledged increment is in it: the highest answer given is not above it...
  expect(final).toBeGreaterThanOrEqual(Math.max(...acknowledged))
  // ...and nothing was counted that was not attempted.
  expect(final).toBeLessThanOrEqual(REQUESTS)

  // The primary forked a replacement; once four workers answer (the killed one not among them),
  // exactly one of them is the host.
  let seen = new Map<number, string>()
  await waitFor(async () => {
    seen = await roles(cluster)
    return seen.size === 4
  }, 20000, 'four workers to answer')
  expect(seen.has(victim)).toBe(false)
  expect([...seen.values()].filter((role) => role === 'host')).toHaveLength(1)
  expect(cluster.output()).toContain(`worker ${victim} exited (SIGKILL)`)
  // And it goes on counting from there.
  expect(await incr(cluster)).toBe(final + 2)
})
