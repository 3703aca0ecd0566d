import { fire } from '../helpers/load'
import { getOnce } from '../helpers/http'
import { runInspect } from '../helpers/inspect'
import { type RunningCluster, startCluster, TEST_KEY } from '../helpers/processes'
import { Teardown } from '../helpers/teardown'

// The example app on a 4-worker cluster, seen from outside: GET /stats from each worker, and the
// inspect command (`dist/cli/inspect.js`) connecting to the host like a worker.

const INCREMENTS = 7

interface Stats {
  pid: number
  role: string
  shared: {
    role: string
    host: { address: string, pid: number }
    workers: Array<{ clientId: string, pid: number }>
    keys: number
    opsPerSecond: Record<string, number>
    locks: { held: number, waiting: number, waits: number }
    failovers: number
  }
}

interface Report {
  host: { address: string, pid: number }
  workers: Array<{ clientId: string, pid: number }>
  keys: Array<{ key: string, bytes: number, ttl: number }>
  locks: unknown[]
  opsPerSecond: Record<string, number>
  value?: unknown
}

const teardown = new Teardown()
let cluster: RunningCluster
/** GET /stats answered by every worker, taken while only the workers are connected to the host. */
let stats: Stats[]
/** Every worker's pid, and its role. */
let roles: Map<number, string>

beforeAll(async () => {
  cluster = await startCluster({ WORKERS: '4' })
  teardown.add(() => cluster.stop())
  for (let i = 0; i < INCREMENTS; i++) expect((await getOnce(cluster.url, '/incr')).body).toBe(String(i + 1))
  const answers = await fire(cluster.url, '/stats', 200, 20)
  expect(answers.filter((answer) => answer.status !== 200)).toEqual([])
  stats = answers.map((answer) => JSON.parse(answer.body) as Stats)
  roles = new Map(stats.map(({ pid, role }) => [pid, role]))
})

afterAll(() => teardown.run())

function hostPid (): number {
  const hosts = [...roles].filter(([, role]) => role === 'host').map(([pid]) => pid)
  expect(hosts).toHaveLength(1)
  return hosts[0] as number
}

function sorted (pids: number[]): number[] {
  return [...pids].sort((a, b) => a - b)
}

test('GET /stats: every worker reports the same host, the 4 workers, the keys, no locks, no failover', () => {
  expect(roles.size).toBe(4)
  const workers = sorted([...roles.keys()])
  for (const { role, shared } of stats) {
    expect(shared.role).toBe(role)
    expect(shared.host).toEqual({ address: `127.0.0.1:${cluster.sharedPort}`, pid: hostPid() })
    expect(sorted(shared.workers.map((worker) => worker.pid))).toEqual(workers)
    // 'number' (the app's default) and 'counter'.
    expect(shared.keys).toBe(2)
    for (const rate of Object.values(shared.opsPerSecond)) {
      expect(Number.isFinite(rate) && rate >= 0).toBe(true)
    }
    expect(shared.locks).toEqual({ held: 0, waiting: 0, waits: expect.any(Number) })
    expect(shared.failovers).toBe(0)
  }
})

test('inspect --json --get counter: the host, the 4 workers (not itself), the counter key and its value', async () => {
  const run = await runInspect(teardown, ['inspect', '--port', String(cluster.sharedPort), '--json', '--get', 'counter'], TEST_KEY)
  expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' })
  const report = JSON.parse(run.stdout) as Report
  expect(report.host).toEqual({ address: `127.0.0.1:${cluster.sharedPort}`, pid: hostPid() })
  const workers = report.workers.map((worker) => worker.pid)
  expect(sorted(workers)).toEqual(sorted([...roles.keys()]))
  expect(workers).not.toContain(run.pid)
  const counter = report.keys.find((entry) => entry.key === 'counter')
  expect(counter).toEqual({ key: 'counter', bytes: expect.any(Number), ttl: -1 })
  expect(counter?.bytes).toBeGreaterThan(0)
  expect(report.keys.map((entry) => entry.key).sort()).toEqual(['counter', 'number'])
  expect(report.value).toBe(INCREMENTS)
  expect(report.locks).toEqual([])
})

test('inspect without --json: the human report names the counter key and shows its value', async () => {
  const run = await runInspect(teardown, ['inspect', '--port', String(cluster.sharedPort), '--get', 'counter'], TEST_KEY)
  expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' })
  expect(run.stdout).toMatch(/^ {2}counter {2}\d+ B$/m)
  expect(run.stdout).toMatch(new RegExp(`^value +${INCREMENTS}$`, 'm'))
  expect(run.stdout).toMatch(/^workers +4:/m)
})

test('inspect with a wrong key exits non-zero with FST_SHARED_STATE_AUTH on stderr', async () => {
  const run = await runInspect(teardown, ['inspect', '--port', String(cluster.sharedPort), '--json'], 'not-the-key-of-this-cluster')
  expect(run.code).toBe(1)
  expect(run.stderr).toContain('FST_SHARED_STATE_AUTH')
  expect(run.stdout).toBe('')
})
