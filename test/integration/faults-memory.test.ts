import { startFaultsWorker, type FaultsWorker } from '../helpers/faults-worker'
import { freePort } from '../helpers/ports'
import { TEST_KEY, waitFor } from '../helpers/processes'
import { RawPeer } from '../helpers/raw-peer'
import { Teardown } from '../helpers/teardown'
import { opCode } from '../../lib/protocol/messages'

// The host's memory does not grow with things that come and go. Each test warms the path up,
// takes the host's heap after a full GC as its baseline, runs many more iterations, and asserts
// the heap after a full GC stays within a stated bound of the baseline. The host runs in its own
// process; the load comes from other processes or raw connections.

const MiB = 1024 * 1024
// The workers' call timeout: a dead worker's replies go a few of these after its connection did.
const TIMEOUT = 400

const suite = new Teardown()
const teardown = new Teardown()
afterEach(() => teardown.run())
afterAll(() => suite.run())

let port: number
let host: FaultsWorker
let client: FaultsWorker

beforeAll(async () => {
  port = await freePort()
  host = await startFaultsWorker(suite, { port, key: TEST_KEY, timeout: TIMEOUT })
  expect(host.role).toBe('host')
  client = await startFaultsWorker(suite, { port, key: TEST_KEY, timeout: 10000 })
})

/** Waits until the host's heap after GC is within `bound` bytes of `baseline`; resolves with the growth. */
async function settlesWithin (baseline: number, bound: number): Promise<number> {
  let growth = Infinity
  await waitFor(async () => {
    growth = (await host.heap()) - baseline
    return growth < bound
  }, 20000, `the host's heap to come back within ${bound / MiB} MiB (last growth ${(growth / MiB).toFixed(1)} MiB)`)
  return growth
}

/** `count` workers that connect, make `mutations` increments and die without a goodbye, 20 at a time. */
async function deadWorkers (count: number, mutations: number, tag: string): Promise<void> {
  let next = 0
  await Promise.all(Array.from({ length: 20 }, async () => {
    while (next < count) await deadWorker(tag, next++, mutations)
  }))
}

async function deadWorker (tag: string, i: number, mutations: number): Promise<void> {
  const peer = await RawPeer.connect({ port }, teardown)
  await peer.handshake(TEST_KEY, `${tag}-${i}`)
  for (let id = 1; id <= mutations; id++) peer.send([id, opCode('incr'), 'dead:count', 1, 0])
  await waitFor(() => peer.messages.some((message) => Array.isArray(message) && message[0] === mutations), 10000, 'the last reply')
  peer.socket.destroy()
}

test('200 workers that made 300 increments each and died: their replies go after the grace period', async () => {
  await deadWorkers(20, 300, 'warm')
  const baseline = await host.heap()
  await deadWorkers(200, 300, 'dead')
  // Each kept a 0.5 MiB reply ring for good before. Kept three timeouts for their retries, the
  // replies of all 200 come to about 4 MiB; after it, they are gone.
  await settlesWithin(baseline, 1 * MiB)
  expect(await client.call('get', 'dead:count')).toBe(220 * 300)
})

test('a worker that comes back within the grace period still gets its retry applied once', async () => {
  const first = await RawPeer.connect({ port }, teardown)
  await first.handshake(TEST_KEY, 'comeback')
  first.send([7, opCode('incr'), 'comeback:count', 5, 0])
  expect(await first.next()).toEqual([7, 0, 5])
  first.socket.destroy()
  const again = await RawPeer.connect({ port }, teardown)
  await again.handshake(TEST_KEY, 'comeback')
  // The same request id again, as a worker resends what it had no answer to.
  again.send([7, opCode('incr'), 'comeback:count', 5, 0])
  expect(await again.next()).toEqual([7, 0, 5])
  expect(await client.call('get', 'comeback:count')).toBe(5)
})

test('50 k lock waits that timed out while the lock stays held leave nothing behind', async () => {
  const held = await host.call<number>('acquire', 'crowded')
  // Enough to fill the client's ring of remembered replies (a timed-out acquire is answered, and
  // its answer kept for a retry like any mutation's), which is bounded but not empty.
  expect(await client.call('timedOutWaits', 'crowded', 40000, 200)).toEqual({ FST_SHARED_STATE_LOCK_TIMEOUT: 40000 })
  const baseline = await host.heap()
  expect(await client.call('timedOutWaits', 'crowded', 50000, 300)).toEqual({ FST_SHARED_STATE_LOCK_TIMEOUT: 50000 })
  expect(await client.call('isLocked', 'crowded')).toBe(true)
  // Each timed-out wait held over a KiB until the lock was released, before.
  await settlesWithin(baseline, 3 * MiB)
  await host.call('release', held, 'crowded')
})

test('50 k lock names, each locked once: idle names are forgotten', async () => {
  await client.call('loop', 'lockNames', 5000, 32, 'warm:')
  const baseline = await host.heap()
  await client.call('loop', 'lockNames', 50000, 32, 'order:')
  await settlesWithin(baseline, 2 * MiB)
  // Tokens still only grow, for a name seen before too.
  const first = await client.call<number>('acquire', 'order:1')
  await client.call('release', first, 'order:1')
  const second = await client.call<number>('acquire', 'order:1')
  expect(second).toBeGreaterThan(first)
  await client.call('release', second, 'order:1')
})

test('a worker that locked 50 k names keeps nothing of them once released, without waiting for their timeouts', async () => {
  // The worker's side of each name (its queue of acquirers, timed by the 10 s lock timeout) goes
  // when the lock is released, not when a timer armed for that timeout fires.
  await client.call('loop', 'lockNames', 5000, 32, 'own-warm:')
  const baseline = await client.heap()
  await client.call('loop', 'lockNames', 50000, 32, 'own:')
  expect((await client.heap()) - baseline).toBeLessThan(2 * MiB)
})

test('200 k incr with a ttl on one key add no expiry entries', async () => {
  await client.call('loop', 'incrTtl', 20000, 32, 'hits')
  const baseline = await host.heap()
  await client.call('loop', 'incrTtl', 200000, 32, 'hits')
  expect(await client.call('get', 'hits')).toBe(220000)
  await settlesWithin(baseline, 2 * MiB)
})

test('200 k sets of one key, each with a new ttl: the expiry queue stays bounded', async () => {
  await client.call('loop', 'setTtl', 20000, 32, 'touched')
  const baseline = await host.heap()
  await client.call('loop', 'setTtl', 200000, 32, 'touched')
  await settlesWithin(baseline, 2 * MiB)
  expect(await client.call<number>('ttl', 'touched')).toBeGreaterThan(600000)
})
