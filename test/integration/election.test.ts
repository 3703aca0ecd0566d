import { renameSync } from 'node:fs'
import { lstat, mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from '../helpers/ports'
import { frame } from '../helpers/raw-peer'
import { TEST_KEY, waitFor } from '../helpers/processes'
import { Teardown } from '../helpers/teardown'
import { startFailure, startWorker, type WorkerProcess } from '../helpers/worker-process'

// The election among plain processes (no cluster primary): whoever binds the manager socket
// exclusively hosts, everyone else is its client, over TCP or a unix socket.

const teardown = new Teardown()
afterEach(() => teardown.run())

async function socketPath (): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'shared-state-'))
  teardown.add(() => rm(dir, { recursive: true, force: true }))
  return join(dir, 'manager.sock')
}

/** Starts `count` workers at once and checks they all share one state through one host. */
async function expectOneHost (options: Record<string, unknown>, count: number): Promise<WorkerProcess[]> {
  const workers = await Promise.all(Array.from({ length: count }, () => startWorker(teardown, options)))
  expect(workers.map((worker) => worker.role).sort()).toEqual(['client', 'client', 'host'])
  // Each worker also reports the role it holds now, not only the one it started with.
  expect(await Promise.all(workers.map((worker) => worker.call('role')))).toEqual(workers.map((worker) => worker.role))
  const counts = await Promise.all(workers.map((worker) => worker.call<number>('incr', 'n')))
  expect(counts.sort()).toEqual([1, 2, 3])
  return workers
}

// A few rounds each: a race that one round wins by luck is less likely to win three.
const ROUNDS = 3

test('exactly one host among 3 processes started at the same time (TCP port)', async () => {
  for (let round = 0; round < ROUNDS; round++) {
    await expectOneHost({ port: await freePort(), key: TEST_KEY }, 3)
    await teardown.run()
  }
})

test('exactly one host among 3 processes started at the same time (unix socket path)', async () => {
  for (let round = 0; round < ROUNDS; round++) {
    await expectOneHost({ path: await socketPath(), key: TEST_KEY }, 3)
    await teardown.run()
  }
})

test('a unix socket left by a host killed with SIGKILL is replaced: the next worker hosts', async () => {
  const path = await socketPath()
  const first = await startWorker(teardown, { path, key: TEST_KEY })
  expect(first.role).toBe('host')
  await first.call('set', 'from-the-dead-host', 1)
  await first.kill('SIGKILL')
  // The file outlives the process that listened on it: the stale socket this test is about.
  expect((await lstat(path)).isSocket()).toBe(true)

  const next = await startWorker(teardown, { path, key: TEST_KEY, connectTimeout: 5000 })
  expect(next.role).toBe('host')
  // A new host with a fresh state (no persist: a killed host takes its state with it).
  expect(await next.call('has', 'from-the-dead-host')).toBe(false)
  const client = await startWorker(teardown, { path, key: TEST_KEY })
  expect(client.role).toBe('client')
  expect(await client.call('incr', 'n')).toBe(1)
  expect(await next.call('get', 'n')).toBe(1)
})

test('three workers starting together on a stale unix socket elect exactly one host', async () => {
  const path = await socketPath()
  const dead = await startWorker(teardown, { path, key: TEST_KEY })
  await dead.kill('SIGKILL')
  expect((await lstat(path)).isSocket()).toBe(true)
  // Each finds the stale file; only the very file found refusing may be removed, so a worker
  // never unlinks the socket a faster rival has just bound.
  await expectOneHost({ path, key: TEST_KEY, connectTimeout: 5000 }, 3)
})

test('a socket file replaced while a worker connects: it looks again, reaches the new host, and is not refused as relayed', async () => {
  const path = await socketPath()
  const aside = `${path}.new`
  const host = await startWorker(teardown, { path: aside, key: TEST_KEY })
  await host.call('set', 'k', 'from the host')
  // What a rival does to a stale file: the worker connects to the file at `path`, and between its
  // look at the file before connecting and the one after, the live host's file takes its place.
  const replaced = createServer((socket) => {
    renameSync(aside, path)
    socket.end(frame(['a greeting the worker drops before answering']))
  })
  await new Promise<void>((resolve) => replaced.listen(path, resolve))
  teardown.add(() => new Promise<void>((resolve) => replaced.close(() => resolve())))

  const worker = await startWorker(teardown, { path, key: TEST_KEY })
  expect(worker.role).toBe('client')
  expect(await worker.call('get', 'k')).toBe('from the host')
  expect(await worker.call('incr', 'n')).toBe(1)
  expect(await host.call('get', 'n')).toBe(1)
})

test('a socket file swapped at every connection is refused as a relay after a few looks', async () => {
  const path = await socketPath()
  // Each listener, once connected to, puts the next one's file in its place: the worker never
  // reaches a file that stays put while it connects.
  const files = Array.from({ length: 8 }, (_, i) => (i === 0 ? path : `${path}.${i}`))
  let connections = 0
  for (let i = files.length - 1; i >= 0; i--) {
    const listener = createServer((socket) => {
      connections++
      if (i + 1 < files.length) renameSync(files[i + 1] as string, path)
      socket.end(frame(['a greeting the worker drops before answering']))
    })
    await new Promise<void>((resolve) => listener.listen(files[i], resolve))
    teardown.add(() => new Promise<void>((resolve) => listener.close(() => resolve())))
  }

  const failure = await startFailure({ path, key: TEST_KEY, connectTimeout: 5000 })
  expect(failure.code).toBe('FST_SHARED_STATE_AUTH')
  expect(failure.message).toMatch(/was replaced while this worker connected/)
  // The first look and three more, not one per swap the neighbour can afford.
  expect(connections).toBe(4)
})

test('a worker that starts later joins as a client and sees the existing state', async () => {
  const port = await freePort()
  const host = await startWorker(teardown, { port, key: TEST_KEY })
  expect(host.role).toBe('host')
  const early = await startWorker(teardown, { port, key: TEST_KEY })
  await host.call('set', 'config', { mode: 'on', limits: [1, 2, 3] })
  await early.call('incr', 'visits', 41)
  await host.call('incr', 'visits')

  const late = await startWorker(teardown, { port, key: TEST_KEY })
  expect(late.role).toBe('client')
  expect(await late.call('get', 'config')).toEqual({ mode: 'on', limits: [1, 2, 3] })
  expect(await late.call('get', 'visits')).toBe(42)
  expect((await late.call<string[]>('keys')).sort()).toEqual(['config', 'visits'])
})

test('`defaults` sets only absent keys: a worker that starts late does not reset a counter', async () => {
  const port = await freePort()
  const first = await startWorker(teardown, { port, key: TEST_KEY, defaults: { counter: 0, mode: 'a' } })
  expect(await first.call('get', 'counter')).toBe(0)
  for (let i = 0; i < 5; i++) await first.call('incr', 'counter')
  await first.call('set', 'mode', 'b')

  const late = await startWorker(teardown, { port, key: TEST_KEY, defaults: { counter: 0, mode: 'a', added: [1] } })
  expect(late.role).toBe('client')
  expect(await late.call('get', 'counter')).toBe(5)
  expect(await first.call('get', 'mode')).toBe('b')
  // A key nobody had set yet does take its default.
  expect(await first.call('get', 'added')).toEqual([1])
})

test('each worker logs its role once, at info level', async () => {
  const port = await freePort()
  const host = await startWorker(teardown, { port, key: TEST_KEY }, { LOG_LEVEL: 'info' })
  const client = await startWorker(teardown, { port, key: TEST_KEY }, { LOG_LEVEL: 'info' })
  const roleLines = (worker: WorkerProcess): Array<{ level: number, msg: string }> =>
    worker.output.split('\n').filter((line) => line.includes('shared state:')).map((line) => JSON.parse(line))
  // Log lines travel through a pipe, the ready message through IPC: either may arrive first.
  await waitFor(() => roleLines(host).length > 0 && roleLines(client).length > 0, 10000, 'the role log lines')
  expect(roleLines(host)).toEqual([expect.objectContaining({ level: 30, msg: `shared state: host on 127.0.0.1:${port}` })])
  expect(roleLines(client)).toEqual([expect.objectContaining({ level: 30, msg: expect.stringContaining(`shared state: client of 127.0.0.1:${port}`) })])
})
