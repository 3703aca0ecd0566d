import { freePort } from '../helpers/ports'
import { TEST_KEY } from '../helpers/processes'
import { Teardown } from '../helpers/teardown'
import { startWorker, type WorkerProcess } from '../helpers/worker-process'

// The lock's in-process hand-offs (cohorts) across real processes: a worker passes a held lock to
// its own next acquirers for up to 16 sections, with tokens from a block the host reserved.
// Exclusion must hold with plain get and set under the lock, tokens must grow in the order the
// sections ran, a killed holder must free the lock for the other workers at once, and a worker
// with many acquirers of its own must let another worker in after at most 16 sections.

const COHORT_TURNS = 16
const LONG = { timeout: 30000 }
const suite = new Teardown()
const teardown = new Teardown()
afterEach(() => teardown.run())
afterAll(() => suite.run())

let port: number
let host: WorkerProcess
let clients: WorkerProcess[]

beforeAll(async () => {
  port = await freePort()
  host = await startWorker(suite, { port, key: TEST_KEY })
  expect(host.role).toBe('host')
  clients = await Promise.all(Array.from({ length: 4 }, () => startWorker(suite, { port, key: TEST_KEY })))
})

type Section = [token: number, count: number]

/** Sections from every worker, in the order their counts say they ran: tokens strictly grow. */
function expectTokensInOrder (sections: Section[], total: number): void {
  const ordered = [...sections].sort((x, y) => x[1] - y[1])
  expect(ordered.map(([, count]) => count)).toEqual(Array.from({ length: total }, (_, i) => i + 1))
  let handOffs = 0
  for (let i = 1; i < ordered.length; i++) {
    const step = (ordered[i] as Section)[0] - (ordered[i - 1] as Section)[0]
    expect(step).toBeGreaterThan(0)
    if (step === 1) handOffs++
  }
  // Grants from the host are a block apart; consecutive tokens are hand-offs in one worker, so
  // the fast path was taken, not only the host's queue.
  expect(handOffs).toBeGreaterThan(0)
}

describe('mutual exclusion and tokens under in-process hand-offs', () => {
  test.each(['plain', 'read'])('4 workers x 16 concurrent sections (%s get and set) count exactly, tokens in section order', async (mode) => {
    const lock = `exact-${mode}`
    const runs = await Promise.all(clients.map((client) =>
      client.call<Section[]>('seedSections', lock, `counter:${mode}`, 16, mode)))
    expect(await host.call('get', `counter:${mode}`)).toBe(64)
    expectTokensInOrder(runs.flat(), 64)
  })

  test.each(['plain', 'read'])('4 workers each awaiting 40 sections in turn (%s) count exactly, tokens in section order', async (mode) => {
    // One section at a time per worker: the lock is kept for the worker's next section only
    // because it comes right after the last one's release was answered.
    const lock = `loop-${mode}`
    const runs = await Promise.all(clients.map((client) =>
      client.call<Section[]>('seedSections', lock, `counter:loop-${mode}`, 40, mode, 1)))
    expect(await host.call('get', `counter:loop-${mode}`)).toBe(160)
    expectTokensInOrder(runs.flat(), 160)
  })

  test('the host worker\'s own sections and its clients\' together count exactly', async () => {
    const workers = [host, ...clients.slice(0, 3)]
    const runs = await Promise.all(workers.map((worker, i) =>
      worker.call<Section[]>('seedSections', 'with-host', 'counter:with-host', 16, i % 2 === 0 ? 'read' : 'plain')))
    expect(await clients[3]?.call('get', 'counter:with-host')).toBe(64)
    expectTokensInOrder(runs.flat(), 64)
  })

  test('a lock released by its worker\'s last section is free for the others', async () => {
    await clients[0]?.call('seedSections', 'released', 'counter:released', 8, 'read')
    expect(await clients[1]?.call('isLocked', 'released')).toBe(false)
  })
})

describe('waits in a worker\'s own queue', () => {
  test('an acquirer queued behind its own worker\'s holder times out with LOCK_TIMEOUT and leaves the queue', async () => {
    const [worker] = clients as [WorkerProcess]
    const held = await worker.call<number>('acquire', 'local-timeout', LONG)
    const failure = await worker.failure('acquire', 'local-timeout', { timeout: 100 })
    expect(failure.code).toBe('FST_SHARED_STATE_LOCK_TIMEOUT')
    await worker.call('release', held, 'local-timeout')
    // The timed-out wait was not granted later: the next acquire is served, and the lock frees.
    const next = await worker.call<number>('acquire', 'local-timeout', LONG)
    expect(next).toBeGreaterThan(held)
    await worker.call('release', next, 'local-timeout')
    expect(await clients[1]?.call('isLocked', 'local-timeout')).toBe(false)
  })
})

describe('fairness across workers', () => {
  test(`a worker with 64 acquirers of its own lets a waiting worker in after at most ${COHORT_TURNS} sections`, async () => {
    const [busy, other] = clients as [WorkerProcess, WorkerProcess]
    const held = await busy.call<number>('acquire', 'fair', LONG)
    // 64 acquirers queue in the holder's own worker...
    const local = busy.call<Section[]>('seedSections', 'fair', 'counter:fair', 64, 'plain')
    await busy.call('has', 'barrier')
    // ...and one in another worker, at the host (answered calls after it prove it arrived).
    const waiting = other.call<number>('acquire', 'fair', LONG)
    await other.call('has', 'barrier')

    await busy.call('release', held, 'fair')
    const token = await waiting
    await other.call('release', token, 'fair')
    const sections = await local
    const before = sections.filter(([sectionToken]) => sectionToken < token)
    // The holder's own grant covered `held` and at most COHORT_TURNS - 1 more sections.
    expect(before.length).toBeLessThanOrEqual(COHORT_TURNS - 1)
    expect(token).toBeGreaterThan(held + COHORT_TURNS - 1)
    expect(await host.call('get', 'counter:fair')).toBe(64)
  })
})

describe('a holder that dies', () => {
  test('a worker killed mid-section, with acquirers of its own waiting: another worker gets the lock at once', async () => {
    const victim = await startWorker(teardown, { port, key: TEST_KEY })
    const held = await victim.call<number>('acquire', 'killed', LONG)
    // Local waiters the victim would pass the lock to, had it lived.
    const local = victim.call('seedSections', 'killed', 'counter:killed', 8, 'read')
    local.catch(() => {})
    await victim.call('has', 'barrier')
    const waiting = clients[0]?.call<number>('acquire', 'killed', LONG) as Promise<number>
    await clients[0]?.call('has', 'barrier')
    expect(await clients[1]?.call('isLocked', 'killed')).toBe(true)

    await victim.kill('SIGKILL')
    // Granted inside its 30 s timeout (nothing but the dead worker's release can free it: no ttl).
    const token = await waiting
    expect(token).toBeGreaterThan(held + COHORT_TURNS - 1)
    await clients[0]?.call('release', token, 'killed')
    expect(await clients[1]?.call('isLocked', 'killed')).toBe(false)
    expect(await host.call('get', 'counter:killed')).toBeUndefined()
  })
})
