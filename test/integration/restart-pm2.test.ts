import { getJson, getOnce } from '../helpers/http'
import { Pm2 } from '../helpers/pm2'
import { freePort } from '../helpers/ports'
import { incrementUntilStopped } from '../helpers/restart-cluster'
import { TEST_KEY, waitFor } from '../helpers/processes'
import { Teardown } from '../helpers/teardown'

// The example app under pm2 in cluster mode, as a user runs it: 4 workers, pm2's defaults (it
// replaces two workers at a time, stops each old one with SIGINT and kills it 1,600 ms later),
// `/incr` under load the whole time, and `pm2 reload` three times over. No persist: the state
// lives only in the workers. No two requests may get the same answer, and the counter must end at
// least at the number of acknowledged increments.

const teardown = new Teardown()
afterAll(() => teardown.run())

const WORKERS = 4
const RELOADS = 3

interface Stats {
  shared: { workers: unknown[] }
}

test('pm2 reload, three times, under /incr load: every answer distinct, the counter at least the acknowledged increments', async () => {
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const pm2 = await Pm2.start(teardown, {
    PORT: String(port),
    SHARED_STATE_PORT: String(await freePort()),
    SHARED_STATE_KEY: TEST_KEY,
    LOG_LEVEL: 'info'
  })
  await pm2.run('start', 'example-app/cluster.js', '--name', 'shared', '-i', String(WORKERS))
  const allConnected = async (): Promise<boolean> => {
    try {
      return (await getJson<Stats>(url, '/stats')).shared.workers.length === WORKERS
    } catch {
      return false
    }
  }
  await waitFor(allConnected, 30000, 'the 4 pm2 workers to share one state')

  const load = incrementUntilStopped(url, teardown)
  for (let reload = 0; reload < RELOADS; reload++) {
    await pm2.run('reload', 'shared')
    await waitFor(allConnected, 30000, `the workers to share one state after reload ${reload + 1}`)
  }
  const { answers, failures } = await load.stop()

  const final = Number((await getOnce(url, '/incr')).body)
  const context = `answers: ${answers.length}, failures: ${failures.length} (${failures.slice(0, 3).join('; ')}), final: ${final}\n${await pm2.logs()}`
  expect({ distinct: new Set(answers).size, context }).toEqual({ distinct: answers.length, context })
  expect({ lost: final <= answers.length, context }).toEqual({ lost: false, context })
  expect(final).toBeGreaterThan(Math.max(...answers))
  // The load was running across the reloads, not before or after them only.
  expect(answers.length).toBeGreaterThan(100)
}, 120000)
