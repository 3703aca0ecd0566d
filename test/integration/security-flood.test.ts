import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { getOnce } from '../helpers/http'
import { freePort } from '../helpers/ports'
import { ROOT, stopProcess, TEST_KEY, waitFor } from '../helpers/processes'
import { RawPeer } from '../helpers/raw-peer'
import { Teardown } from '../helpers/teardown'
import { startFailure, startWorker } from '../helpers/worker-process'

// Strangers at the door cost the workers nothing: 2,000 idle connections that never authenticate,
// held open by another process, against a host whose descriptor limit is 1,024. The host keeps at
// most `maxHandshakes` of them, evicting the oldest, so its own HTTP route still answers and a new
// worker still registers. The handshake deadline is set far beyond the test, so that the caps
// alone do the work.

const teardown = new Teardown()
afterEach(() => teardown.run())

const STRANGERS = 2000
const HOST_FILE_LIMIT = 1024

/** Runs `node script ...args` under `ulimit -n limit`, in its own process. */
function underLimit (limit: number, script: string, args: string[], env: Record<string, string>, ipc: boolean): ChildProcess {
  const child = spawn('bash', ['-c', `ulimit -n ${limit} && exec "$0" "$@"`, process.execPath, script, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ipc ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'],
    serialization: 'advanced'
  })
  teardown.add(() => stopProcess(child, 'SIGKILL'))
  return child
}

async function openFiles (pid: number): Promise<{ limit: number, open: number }> {
  const limits = await readFile(`/proc/${pid}/limits`, 'utf8')
  const limit = Number(/Max open files\s+(\d+)/.exec(limits)?.[1])
  return { limit, open: (await readdir(`/proc/${pid}/fd`)).length }
}

test('2,000 idle strangers against a host limited to 1,024 descriptors: its HTTP route answers and a new worker registers', async () => {
  const port = await freePort()
  const httpPort = await freePort()
  const options = { port, key: TEST_KEY, handshakeTimeout: 600000 }
  const host = underLimit(HOST_FILE_LIMIT, join(ROOT, 'test', 'fixtures', 'worker.js'), [], {
    SHARED_STATE_OPTIONS: JSON.stringify(options),
    HTTP_PORT: String(httpPort)
  }, true)
  const [ready] = await once(host, 'message') as [{ type: string, role: string }]
  expect(ready).toMatchObject({ type: 'ready', role: 'host' })
  expect((await openFiles(host.pid as number)).limit).toBe(HOST_FILE_LIMIT)
  const url = `http://127.0.0.1:${httpPort}`
  expect((await getOnce(url, '/incr/visits')).body).toBe('1')

  const flood = underLimit(STRANGERS + 1024, join(ROOT, 'test', 'fixtures', 'flood.js'), [String(port), String(STRANGERS)], {}, false)
  let report = ''
  flood.stdout?.on('data', (chunk) => { report += String(chunk) })
  await waitFor(() => report.includes('\n'), 60000, 'the strangers to connect')
  const { opened } = JSON.parse(report) as { opened: number }
  expect(opened).toBe(STRANGERS)
  // The host holds few of them: the rest were evicted, oldest first.
  expect((await openFiles(host.pid as number)).open).toBeLessThan(HOST_FILE_LIMIT / 2)

  expect((await getOnce(url, '/incr/visits')).body).toBe('2')
  const late = await startWorker(teardown, { port, key: TEST_KEY })
  expect(late.role).toBe('client')
  expect(await late.call('incr', 'visits')).toBe(3)
  expect((await getOnce(url, '/incr/visits')).body).toBe('4')
  expect(flood.exitCode).toBeNull()
})

test('at maxHandshakes the oldest stranger makes room; at maxConnections, all authenticated, a newcomer is refused', async () => {
  const port = await freePort()
  await startWorker(teardown, { port, key: TEST_KEY, maxConnections: 4, maxHandshakes: 2, handshakeTimeout: 600000 })
  /** A raw peer whose challenge has arrived: the host has adopted it. */
  async function stranger (): Promise<RawPeer> {
    const peer = await RawPeer.connect({ port }, teardown)
    await waitFor(() => peer.messages.length > 0, 10000, 'the challenge')
    return peer
  }
  const first = await stranger()
  const second = await stranger()
  const third = await stranger()
  await first.waitClosed()
  expect([second.closed, third.closed]).toEqual([false, false])
  await second.handshake(TEST_KEY)
  await third.handshake(TEST_KEY)
  const fourth = await stranger()
  const fifth = await stranger()
  // Four connections, two of them pending: the sixth evicts the oldest pending one, the fourth.
  const sixth = await stranger()
  await fourth.waitClosed()
  await fifth.handshake(TEST_KEY)
  await sixth.handshake(TEST_KEY)
  // Four authenticated connections and none pending: a seventh is closed without a challenge.
  const seventh = await RawPeer.connect({ port }, teardown)
  await seventh.waitClosed()
  expect(seventh.messages).toEqual([])
  // A worker then fails registration with a coded error.
  const failure = await startFailure({ port, key: TEST_KEY, connectTimeout: 1500 })
  expect(failure.code).toBe('FST_SHARED_STATE_PORT_TAKEN')
  expect([second, third, fifth, sixth].map((peer) => peer.closed)).toEqual([false, false, false, false])
})
