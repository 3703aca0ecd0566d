import { freePort } from '../helpers/ports'
import { TEST_KEY } from '../helpers/processes'
import { Teardown } from '../helpers/teardown'
import { startWorker, type WorkerProcess } from '../helpers/worker-process'

// Fencing tokens across a change of host, with the lock passed on in-process: every token a new
// host grants is above the whole block the old host reserved for a worker's own hand-offs, after
// a graceful handover and after the host was killed. A worker holding a block when its host
// changes passes nothing on under it any more: its next acquirer asks the new host.

const COHORT_TURNS = 16
const LONG = { timeout: 30000 }
const teardown = new Teardown()
afterEach(() => teardown.run())

type Section = [token: number, count: number]

async function hostAndClients (): Promise<{ host: WorkerProcess, clients: WorkerProcess[] }> {
  const port = await freePort()
  const host = await startWorker(teardown, { port, key: TEST_KEY })
  expect(host.role).toBe('host')
  // One at a time: the oldest client is the one a closing host hands over to.
  const clients = []
  for (let i = 0; i < 3; i++) clients.push(await startWorker(teardown, { port, key: TEST_KEY }))
  return { host, clients }
}

async function sections (clients: WorkerProcess[], lock: string, key: string): Promise<number[]> {
  const runs = await Promise.all(clients.map((client) => client.call<Section[]>('seedSections', lock, key, 16, 'read')))
  return runs.flat().map(([token]) => token)
}

test.each([
  ['closed gracefully (handover)', (host: WorkerProcess) => host.call('close')],
  ['killed with SIGKILL', (host: WorkerProcess) => host.kill('SIGKILL')]
])('tokens after the host is %s are above every token before, hand-offs included', async (_, stopHost) => {
  const { host, clients } = await hostAndClients()
  const before = await sections(clients, 'fence', 'counter')
  // A worker holds a block, with acquirers of its own waiting, while the host goes.
  const [holder, ...others] = clients as [WorkerProcess, ...WorkerProcess[]]
  const held = await holder.call<number>('acquire', 'fence', LONG)
  const local = holder.call<Section[]>('seedSections', 'fence', 'counter', 4, 'read')
  await holder.call('has', 'barrier')

  await stopHost(host)
  // The holder's release reaches the new host: accepted after a handover (the holder was handed
  // over), refused after a crash (the new host never granted it). Either way the lock moves on.
  await holder.call('release', held, 'fence').catch(() => {})
  const after = [...(await local).map(([token]) => token), ...await sections(others, 'fence', 'counter-after')]
  const highest = Math.max(...before, held)
  expect(Math.min(...after)).toBeGreaterThan(highest)
  expect(Math.min(...after)).toBeGreaterThan(held + COHORT_TURNS - 1)
  expect(new Set(after).size).toBe(after.length)
  expect(await others[0]?.call('get', 'counter-after')).toBe(32)
})
