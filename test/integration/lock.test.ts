import { freePort } from '../helpers/ports'
import { TEST_KEY } from '../helpers/processes'
import { Teardown } from '../helpers/teardown'
import { startWorker, type WorkerProcess } from '../helpers/worker-process'

// The shared lock across processes: exclusion, first come first served, fencing tokens, timeouts,
// and a dead holder's lock passing on at once. Every test uses its own lock name, so they share
// one host and three clients.

const LONG = { timeout: 20000 }
const suite = new Teardown()
const teardown = new Teardown()
afterEach(() => teardown.run())
afterAll(() => suite.run())

let port: number
let host: WorkerProcess
let a: WorkerProcess
let b: WorkerProcess
let c: WorkerProcess

beforeAll(async () => {
  port = await freePort()
  host = await startWorker(suite, { port, key: TEST_KEY })
  expect(host.role).toBe('host')
  const client = (): Promise<WorkerProcess> => startWorker(suite, { port, key: TEST_KEY })
  ;[a, b, c] = await Promise.all([client(), client(), client()])
})

/** Tracks a call that is expected to stay pending for a while. */
function track<T> (promise: Promise<T>): { promise: Promise<T>, settled: () => boolean } {
  let settled = false
  promise.then(() => { settled = true }, () => { settled = true })
  return { promise, settled: () => settled }
}

/**
 * Asks `worker` for `lock` and resolves once its request is queued on the host: a worker's calls
 * reach the host in the order it made them, so when a later call has been answered, the
 * acquire before it has been received.
 */
async function queueAcquire (worker: WorkerProcess, lock: string, options: Record<string, number> = LONG): Promise<{ promise: Promise<number>, settled: () => boolean }> {
  const waiting = track(worker.call<number>('acquire', lock, options))
  await worker.call('has', 'barrier')
  return waiting
}

describe('a holder that dies', () => {
  test('a worker killed with SIGKILL while it holds the lock: the waiting worker gets it', async () => {
    const victim = await startWorker(teardown, { port, key: TEST_KEY })
    const held = await victim.call<number>('acquire', 'killed')
    const waiting = await queueAcquire(b, 'killed')
    expect(await c.call('isLocked', 'killed')).toBe(true)
    expect(waiting.settled()).toBe(false)

    await victim.kill('SIGKILL')
    // Granted well inside its 20 s timeout, or this rejects with LOCK_TIMEOUT.
    const token = await waiting.promise
    expect(token).toBeGreaterThan(held)
    await b.call('release', token, 'killed')
    expect(await c.call('isLocked', 'killed')).toBe(false)
  })

  test('a worker killed while waiting leaves the queue: the next waiter is served instead', async () => {
    const held = await a.call<number>('acquire', 'killed-waiter')
    const victim = await startWorker(teardown, { port, key: TEST_KEY })
    const victimWaiting = await queueAcquire(victim, 'killed-waiter')
    const waiting = await queueAcquire(b, 'killed-waiter')
    await victim.kill('SIGKILL')
    await expect(victimWaiting.promise).rejects.toMatchObject({ code: 'WORKER_EXITED' })

    await a.call('release', held, 'killed-waiter')
    // The dead worker's wait was dropped, not granted: had it been, nobody would release it for
    // B, whose 20 s wait would end in LOCK_TIMEOUT.
    const token = await waiting.promise
    expect(token).toBeGreaterThan(held)
    await b.call('release', token, 'killed-waiter')
  })
})

describe('order and exclusion', () => {
  test('waiters in different processes are served first come, first served', async () => {
    const held = await a.call<number>('acquire', 'fifo')
    // Not the holder's own worker: its acquirers are passed the lock in-process first (see the
    // seed-fairness test for that bound).
    const queue: Array<[string, WorkerProcess]> = [['c', c], ['host', host], ['b', b]]
    const granted: string[] = []
    const waiters = []
    for (const [name, worker] of queue) {
      const waiting = await queueAcquire(worker, 'fifo')
      waiting.promise.then(() => granted.push(name), () => {})
      waiters.push(waiting)
    }
    let token = held
    let holder = a
    for (const [index, [, worker]] of queue.entries()) {
      await holder.call('release', token, 'fifo')
      const next = await (waiters[index] as { promise: Promise<number> }).promise
      // Granted to this waiter and no other yet, with a higher fencing token than the last.
      expect(granted).toEqual(queue.slice(0, index + 1).map(([queued]) => queued))
      expect(next).toBeGreaterThan(token)
      token = next
      holder = worker
    }
    await holder.call('release', token, 'fifo')
  })

  test.each([['a client', () => a], ['the host', () => host]])('two acquirers in one worker (%s) are serialized', async (_, worker) => {
    const lock = `same-worker-${worker().role}`
    const first = await worker().call<number>('acquire', lock)
    const second = await queueAcquire(worker(), lock)
    expect(second.settled()).toBe(false)
    await worker().call('release', first, lock)
    const next = await second.promise
    expect(next).toBeGreaterThan(first)
    await worker().call('release', next, lock)

    // Many sections at once through withLock: never two inside together, each its own grant.
    const { most, tokens } = await worker().call<{ most: number, tokens: number[] }>('lockedSections', lock, 8)
    expect(most).toBe(1)
    expect(new Set(tokens).size).toBe(8)
    expect(Math.min(...tokens)).toBeGreaterThan(next)
  })

  test('isLocked tells whether anyone holds the lock, in every worker', async () => {
    const everyone = [host, a, b, c]
    const locked = (): Promise<boolean[]> => Promise.all(everyone.map((worker) => worker.call<boolean>('isLocked', 'status')))
    expect(await locked()).toEqual([false, false, false, false])
    const token = await c.call<number>('acquire', 'status')
    expect(await locked()).toEqual([true, true, true, true])
    await c.call('release', token, 'status')
    expect(await locked()).toEqual([false, false, false, false])
  })
})

describe('timeouts and stale handles', () => {
  test('a waiter that times out rejects with FST_SHARED_STATE_LOCK_TIMEOUT and leaves the queue', async () => {
    const held = await a.call<number>('acquire', 'timeout')
    const failure = await b.failure('acquire', 'timeout', { timeout: 200 })
    expect(failure.code).toBe('FST_SHARED_STATE_LOCK_TIMEOUT')
    expect(failure.message).toContain('timeout')

    await a.call('release', held, 'timeout')
    // Nobody was granted it on B's behalf: it is free at once.
    expect(await c.call('isLocked', 'timeout')).toBe(false)
    const next = await c.call<number>('acquire', 'timeout')
    expect(next).toBeGreaterThan(held)
    await c.call('release', next, 'timeout')
  })

  test.each([['a client', () => a], ['the host', () => host]])('releasing twice (%s) rejects with FST_SHARED_STATE_LOCK_NOT_HELD and leaves the next holder alone', async (_, worker) => {
    const lock = `twice-${worker().role}`
    const token = await worker().call<number>('acquire', lock)
    await worker().call('release', token, lock)
    const next = await c.call<number>('acquire', lock)

    const failure = await worker().failure('release', token, lock)
    expect(failure.code).toBe('FST_SHARED_STATE_LOCK_NOT_HELD')
    expect(await b.call('isLocked', lock)).toBe(true)
    await c.call('release', next, lock)
    expect(await b.call('isLocked', lock)).toBe(false)
  })

  test('a holder past its ttl loses the lock to the waiter; its late release is refused', async () => {
    const held = await a.call<number>('acquire', 'lease', { ttl: 300 })
    const waiting = await queueAcquire(b, 'lease')
    const token = await waiting.promise
    expect(token).toBeGreaterThan(held)

    const failure = await a.failure('release', held, 'lease')
    expect(failure.code).toBe('FST_SHARED_STATE_LOCK_NOT_HELD')
    expect(await c.call('isLocked', 'lease')).toBe(true)
    await b.call('release', token, 'lease')
  })
})
