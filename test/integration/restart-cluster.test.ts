import { type AddressInfo, Server } from 'node:net'
import { getOnce } from '../helpers/http'
import { waitFor } from '../helpers/processes'
import { incrementUntilStopped, type Probe, RestartCluster } from '../helpers/restart-cluster'
import { Teardown } from '../helpers/teardown'

// Rolling restarts under node:cluster, without persist, with /incr under load through the shared
// HTTP port: workers closing together, new ones starting mid-handover, a successor that closes
// while it receives the state, a stranger taking the port mid-handover. No two requests may get
// the same answer, the counter must end at least at the acknowledged increments (when a worker
// lives through the restart), and every worker must end hosting or connected.

const teardown = new Teardown()
afterEach(() => teardown.run())

/** Every live worker answers a call; exactly one hosts. */
async function expectOneStateServed (cluster: RestartCluster): Promise<Probe[]> {
  const probes = await cluster.probe()
  expect(probes.filter((probe) => !probe.ok)).toEqual([])
  expect(probes.filter((probe) => probe.role === 'host')).toHaveLength(1)
  return probes
}

async function expectNothingLost (cluster: RestartCluster, load: ReturnType<typeof incrementUntilStopped>): Promise<void> {
  const { answers, failures } = await load.stop()
  const final = Number((await getOnce(cluster.url, '/incr')).body)
  const duplicates = answers.filter((answer, index) => answers.indexOf(answer) !== index)
  const log = cluster.output.split('\n').filter((line) => line.includes('shared state')).join('\n')
  const summary = `answers: ${answers.length}, failures: ${failures.length} (${failures.slice(0, 3).join('; ')}), final ${final}, duplicates ${duplicates.slice(0, 10).join(' ')}`
  // Two equal answers would mean two live copies of the state.
  if (duplicates.length > 0 || final <= answers.length || final <= Math.max(0, ...answers)) throw new Error(`${summary}\n${log}`)
}

test('SIGTERM to every worker at once while as many new ones are forked: the state moves to a new worker', async () => {
  const { cluster, pids } = await RestartCluster.start(teardown, 4)
  const load = incrementUntilStopped(cluster.url, teardown)
  await waitFor(async () => Number((await getOnce(cluster.url, '/size')).body) > 0, 10000, 'the load to start')
  const replaced = await cluster.replace(pids)
  expect(replaced.workers.map((worker) => worker.code)).toEqual([0, 0, 0, 0])
  expect(replaced.pids.every((pid) => pid > 0)).toBe(true)
  await expectOneStateServed(cluster)
  await expectNothingLost(cluster, load)
}, 60000)

test('SIGTERM to the host and another worker at once: the state goes to a worker that stays', async () => {
  const { cluster } = await RestartCluster.start(teardown, 1)
  // One at a time, so their ages are known: the closing host prefers the newest, so the fourth
  // takes over from the first, and the one forked after that from the fourth. The other worker
  // closed each time is an older one, never the host itself (a second SIGTERM to one worker ends
  // it before it closes).
  const [second] = await cluster.fork(1)
  const [third] = await cluster.fork(1)
  await cluster.fork(1)
  const load = incrementUntilStopped(cluster.url, teardown)
  await waitFor(async () => Number((await getOnce(cluster.url, '/size')).body) > 0, 10000, 'the load to start')
  let host = cluster.hostPid()
  for (const other of [second as number, third as number]) {
    expect(host).not.toBe(other)
    const ended = await cluster.sigterm([host, other])
    expect(ended.map((worker) => worker.code)).toEqual([0, 0])
    const closed = host
    await waitFor(() => cluster.hostPid() !== closed, 10000, 'a staying worker to host')
    host = cluster.hostPid()
    await cluster.fork(1)
  }
  await expectOneStateServed(cluster)
  await expectNothingLost(cluster, load)
}, 60000)

test('the successor is SIGTERMed while it receives the state: the state goes on to the next worker', async () => {
  const { cluster } = await RestartCluster.start(teardown, 1)
  await cluster.fork(2)
  // The newest: the one the closing host chooses.
  const [successor] = await cluster.fork(1)
  // 16 MB of state, so the transfer is still under way when the successor gets its signal.
  expect((await getOnce(cluster.url, '/fill/400/40000')).body).toBe('filled')
  const load = incrementUntilStopped(cluster.url, teardown)
  await waitFor(async () => Number((await getOnce(cluster.url, '/size')).body) > 400, 10000, 'the load to start')
  const host = cluster.hostPid()
  const ended = await Promise.all([cluster.sigterm([host]), cluster.sigterm([successor as number])])
  expect(ended.flat().map((worker) => worker.code)).toEqual([0, 0])
  const probes = await expectOneStateServed(cluster)
  expect(probes).toHaveLength(2)
  expect(Number((await getOnce(cluster.url, '/size')).body)).toBe(401)
  await expectNothingLost(cluster, load)
}, 60000)

/** Binds `port` exclusively as soon as it is free, and holds it: a process that is not ours. */
async function squat (port: number, stop: { stopped: boolean }): Promise<Server | undefined> {
  while (!stop.stopped) {
    const server = new Server((socket) => socket.destroy())
    const bound = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false))
      server.listen({ host: '127.0.0.1', port, exclusive: true }, () => resolve(true))
    })
    if (bound) return server
    await new Promise((resolve) => setImmediate(resolve))
  }
  return undefined
}

test('a stranger binds the port mid-handover, then lets go: every worker ends hosting or connected', async () => {
  const { cluster } = await RestartCluster.start(teardown, 3)
  const load = incrementUntilStopped(cluster.url, teardown)
  await waitFor(async () => Number((await getOnce(cluster.url, '/size')).body) > 0, 10000, 'the load to start')
  const stop = { stopped: false }
  const squatting = squat(cluster.sharedPort, stop)
  teardown.add(async () => {
    stop.stopped = true
    const server = await squatting
    server?.close()
  })
  const ended = await cluster.sigterm([cluster.hostPid()])
  expect(ended.map((worker) => worker.code)).toEqual([0])
  // The stranger got the port in the instant between the host freeing it and its successor
  // binding it, or it waits for the port to be free again; either way it leaves now.
  stop.stopped = true
  const stranger = await squatting
  const held = stranger !== undefined && (stranger.address() as AddressInfo).port === cluster.sharedPort
  await new Promise((resolve) => stranger?.close(resolve) ?? resolve(undefined))
  await waitFor(async () => (await cluster.probe()).every((probe) => probe.ok), 20000, `every worker to host or connect (stranger held the port: ${held})`)
  await expectOneStateServed(cluster)
  if (held) {
    // It took the port in the instant it was free. The successor kept trying to bind for a while:
    // it took over once the stranger left, or it dropped its copy rather than serve a second one
    // later (the state is then lost, as after a crash).
    expect(cluster.output).toMatch(/could not take over|took over/)
    await load.stop()
  } else {
    await expectNothingLost(cluster, load)
  }
}, 60000)
