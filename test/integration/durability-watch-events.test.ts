import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startFailoverWorker } from '../helpers/failover-worker'
import { freePort } from '../helpers/ports'
import { TEST_KEY, waitFor } from '../helpers/processes'
import { Teardown } from '../helpers/teardown'
import { startWorker } from '../helpers/worker-process'

// Under fsync 'always' a watch event is a read: it must not show a change before it is durable.
// The host worker increments a counter, one awaited call after another (its own calls are never
// resent: what a crash loses is lost), while another worker watches the counter. The host is
// killed with SIGKILL mid-loop; the watcher, now host, loads the log. Every value an event showed
// must still be there: the counter may not be below the highest value the watcher saw. (A change
// is lost only while its record waits for an fsync to finish before being written, a short
// window: with events sent at once this caught the loss in one run of four.)

const teardown = new Teardown()
afterEach(() => teardown.run())

test('fsync always: after a kill -9 of the host, no watcher has seen a value the log lost', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'shared-state-watch-durable-'))
  teardown.add(() => rm(dir, { recursive: true, force: true }))
  const options = { port: await freePort(), key: TEST_KEY, persist: { file: join(dir, 'state.log'), fsync: 'always' } }
  const host = await startFailoverWorker(teardown, options)
  expect(host.role).toBe('host')
  const watcher = await startWorker(teardown, options)
  await watcher.call('watch', 'counter')

  host.increment('counter', 1_000_000, 4, 0)
  await waitFor(() => watcher.events.length >= 300, 30000, 'the watcher to see the counter move')
  await host.kill('SIGKILL')
  await waitFor(async () => await watcher.call('role') === 'host', 10000, 'the watcher to take over')

  // The changes seen (after the kill, the watch may also report it lost events: no value).
  const changes = (watcher.events as Array<{ type: string, value?: number }>).filter((event) => event.type === 'set')
  expect(changes.length).toBeGreaterThanOrEqual(300)
  const seen = Math.max(...changes.map((event) => event.value as number))
  const loaded = await watcher.call<number>('get', 'counter')
  expect(loaded).toBeGreaterThanOrEqual(seen)
})
