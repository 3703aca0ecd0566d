import { startFaultsWorker, type FaultsWorker } from '../helpers/faults-worker'
import { freePort } from '../helpers/ports'
import { TEST_KEY, waitFor } from '../helpers/processes'
import { redisForThisFile, uniquePrefix } from '../helpers/redis'
import { Teardown } from '../helpers/teardown'

// Watches keep their promise or say they could not: a watch is in force when watch() resolves
// (a change the same worker asked for right after watch() is delivered), a change of host never
// drops a subscription silently, even when re-watching on the new host fails at first, an
// unsubscribe made meanwhile is kept, and a listener that may have missed events hears `lost`.

interface Event {
  type: string
  key: string
  value?: unknown
}

const teardown = new Teardown()
afterEach(() => teardown.run())
const redis = redisForThisFile()

function events (worker: FaultsWorker): Event[] {
  return worker.events as Event[]
}

function has (worker: FaultsWorker, type: string, key: string): boolean {
  return events(worker).some((event) => event.type === type && event.key === key)
}

describe('socket mode', () => {
  test('a set asked for right after watch(), before it resolved, is delivered: on a client and on the host', async () => {
    const port = await freePort()
    const host = await startFaultsWorker(teardown, { port, key: TEST_KEY })
    const client = await startFaultsWorker(teardown, { port, key: TEST_KEY })
    await client.call('watchThenSet', 'soon:', 'soon:client')
    await host.call('watchThenSet', 'soon:', 'soon:host')
    await waitFor(() => has(client, 'set', 'soon:client') && has(host, 'set', 'soon:host'), 10000, 'both events')
    // Each also sees the other's change: both watches are in force.
    await waitFor(() => has(client, 'set', 'soon:host'), 10000, 'the host\'s change on the client')
  })

  test('a re-watch that fails on the new host is tried again, keeps the others, and an unsubscribe meanwhile holds', async () => {
    const port = await freePort()
    const first = await startFaultsWorker(teardown, { port, key: TEST_KEY })
    const next = await startFaultsWorker(teardown, { port, key: TEST_KEY })
    // The watcher's calls time out after 500 ms: its first re-watch on a host whose loop is
    // blocked for 2 s fails.
    const watcher = await startFaultsWorker(teardown, { port, key: TEST_KEY, timeout: 500 })
    expect(first.role).toBe('host')
    for (const prefix of ['a:', 'b:', 'gone:']) await watcher.call('watch', prefix)
    // The next host blocks its loop for 2 s once `block:now` is set.
    await next.call('blockOnSet', 'block:now', 2000)

    // The watcher is frozen while the host dies, so the other worker becomes host.
    watcher.child.kill('SIGSTOP')
    teardown.add(() => { if (!watcher.exited) watcher.child.kill('SIGCONT') })
    await first.kill('SIGKILL')
    await waitFor(async () => (await next.call('role')) === 'host', 20000, 'the other worker to become host')
    // Asked for while frozen: sent to the new host before the re-watches, it blocks the host's
    // loop in front of them, and they time out.
    const blocking = watcher.call('set', 'block:now', 1).catch(() => null)
    watcher.child.kill('SIGCONT')
    // Its call may time out behind the blocked loop too; it is sent, in order, all the same.
    await watcher.call('unwatch', 'gone:').catch(() => null)
    await blocking

    await waitFor(() => has(watcher, 'lost', 'a:') && has(watcher, 'lost', 'b:'), 20000, 'both watches back in force')
    expect(has(watcher, 'lost', 'gone:')).toBe(false)
    for (const key of ['gone:1', 'a:1', 'b:1']) await next.call('set', key, key)
    await waitFor(() => has(watcher, 'set', 'a:1') && has(watcher, 'set', 'b:1'), 10000, 'events on both watches')
    // gone:1 was set first, on the same host: had the unsubscribe been lost, it would be here.
    expect(has(watcher, 'set', 'gone:1')).toBe(false)
  })
})

describe('redis mode', () => {
  test('a watch is in force when watch() resolves, and hears `lost` when its subscription was down', async () => {
    const options = { redis: redis().url, prefix: uniquePrefix() }
    const watcher = await startFaultsWorker(teardown, options)
    const writer = await startFaultsWorker(teardown, options)
    await watcher.call('watch', 'r:')
    await writer.call('set', 'r:1', 1)
    await waitFor(() => has(watcher, 'set', 'r:1'), 10000, 'the change')

    await redis().kill()
    await redis().restart()
    await waitFor(() => has(watcher, 'lost', 'r:'), 20000, 'the lost event')
    await waitFor(async () => {
      await writer.call('set', 'r:2', 2).catch(() => null)
      return has(watcher, 'set', 'r:2')
    }, 20000, 'changes after the restart')
  })
})
