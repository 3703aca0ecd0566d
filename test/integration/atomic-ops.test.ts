import { oneTo } from '../helpers/load'
import { freePort } from '../helpers/ports'
import { stopProcess, TEST_KEY, waitFor } from '../helpers/processes'
import { Teardown } from '../helpers/teardown'
import { startWorker, type WorkerProcess } from '../helpers/worker-process'

// The seed recipe's limits, removed, across real processes: read-modify-write without the lock,
// nested edits in place, change notifications, and a lock holder that hangs.

const teardown = new Teardown()
afterEach(() => teardown.run())

async function fourWorkers (): Promise<WorkerProcess[]> {
  const port = await freePort()
  const host = await startWorker(teardown, { port, key: TEST_KEY })
  const clients = await Promise.all([1, 2, 3].map(() => startWorker(teardown, { port, key: TEST_KEY })))
  expect([host.role, ...clients.map((client) => client.role)]).toEqual(['host', 'client', 'client', 'client'])
  return [host, ...clients]
}

function sorted (answers: number[][]): number[] {
  return answers.flat().sort((a, b) => a - b)
}

test('4 workers x 2,500 concurrent incrIn end at exactly 10,000, answer 1..10,000, and leave siblings intact', async () => {
  const workers = await fourWorkers()
  await workers[0]?.call('set', 'stats', { hits: 0, name: 'home', tags: ['a'] })
  const answers = await Promise.all(workers.map((worker) => worker.call<number[]>('many', 'incrIn', 2500, ['stats', 'hits'])))
  expect(sorted(answers)).toEqual(oneTo(10000))
  expect(await workers[1]?.call('get', 'stats')).toEqual({ hits: 10000, name: 'home', tags: ['a'] })
})

test('4 workers x 500 concurrent push leave exactly 2,000 elements', async () => {
  const workers = await fourWorkers()
  const lengths = await Promise.all(workers.map((worker, index) => worker.call<number[]>('many', 'push', 500, ['log'], index)))
  expect(sorted(lengths)).toEqual(oneTo(2000))
  const log = await workers[2]?.call<number[]>('get', 'log')
  expect(log).toHaveLength(2000)
  for (const index of [0, 1, 2, 3]) expect(log?.filter((item) => item === index)).toHaveLength(500)
})

test('4 workers x 500 concurrent update incrementing a field return exactly 1..2,000', async () => {
  const workers = await fourWorkers()
  await workers[0]?.call('set', 'doc', { n: 0, title: 'kept' })
  const answers = await Promise.all(workers.map((worker) => worker.call<number[]>('manyUpdates', 500, 'doc', 'n')))
  expect(sorted(answers)).toEqual(oneTo(2000))
  expect(await workers[3]?.call('get', 'doc')).toEqual({ n: 2000, title: 'kept' })
})

test('setIn([\'array\', 1], 0) on [1, 2, 3] reads back [1, 0, 3] from another process', async () => {
  const [host, client] = await fourWorkers()
  await host?.call('set', 'array', [1, 2, 3])
  await client?.call('setIn', ['array', 1], 0)
  expect(await host?.call('get', 'array')).toEqual([1, 0, 3])
})

test('a watcher in one process sees another process\'s set, set, delete in that order', async () => {
  const [host, watcher, writer] = await fourWorkers()
  await watcher?.call('watch', 'w:')
  await writer?.call('set', 'w:k', 1)
  await writer?.call('set', 'w:k', 2)
  await writer?.call('delete', 'w:k')
  await host?.call('set', 'other', true)
  await waitFor(() => (watcher?.events.length ?? 0) >= 3, 5000, 'three events')
  expect(watcher?.events).toEqual([
    { type: 'set', key: 'w:k', value: 1 },
    { type: 'set', key: 'w:k', value: 2 },
    { type: 'delete', key: 'w:k' }
  ])
})

test('a key with a ttl disappears for every worker', async () => {
  const workers = await fourWorkers()
  // Long enough that a slow machine still reads it before it goes; then cut short.
  await workers[1]?.call('set', 'short', 'lived', { ttl: 60000 })
  expect(await workers[2]?.call('get', 'short')).toBe('lived')
  expect(await workers[3]?.call('expire', 'short', 50)).toBe(true)
  await waitFor(async () => {
    const seen = await Promise.all(workers.map((worker) => worker.call('has', 'short')))
    return seen.every((present) => present === false)
  }, 5000, 'the key to expire everywhere')
})

test('a holder stopped with SIGSTOP loses the lock after its ttl; after SIGCONT its release is refused and the new holder keeps it', async () => {
  const [, holder, waiter] = await fourWorkers()
  if (holder === undefined || waiter === undefined) throw new Error('workers missing')
  const stale = await holder.call<number>('acquire', 'default', { ttl: 300 })
  holder.child.kill('SIGSTOP')
  // Whatever happens, the stopped process is resumed before teardown stops it.
  teardown.add(() => holder.child.kill('SIGCONT'))
  const fresh = await waiter.call<number>('acquire', 'default', { timeout: 20000 })
  expect(fresh).toBeGreaterThan(stale)
  holder.child.kill('SIGCONT')
  const refused = await holder.failure('release', stale)
  expect(refused.code).toBe('FST_SHARED_STATE_LOCK_NOT_HELD')
  expect(await holder.call('isLocked')).toBe(true)
  await waiter.call('release', fresh)
  expect(await holder.call('isLocked')).toBe(false)
  await stopProcess(holder.child)
})
