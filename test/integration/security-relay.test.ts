import { randomBytes } from 'node:crypto'
import { mkdtemp, rename, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { localSocketName } from '../../lib/local-socket'
import { runInspect } from '../helpers/inspect'
import { freePort } from '../helpers/ports'
import { TEST_KEY, waitFor } from '../helpers/processes'
import { forgedSet, Relay } from '../helpers/relay'
import { Teardown } from '../helpers/teardown'
import { startFailure, startWorker, type WorkerProcess } from '../helpers/worker-process'

// A process without the key that sits between a worker and the host, on each transport, relaying
// every byte and slipping in a request of its own. The handshake's proofs cover each end's view of
// the connection (lib/connection-view.ts), so the spliced connection never authenticates: the
// relay sees no value, nothing it sends is applied, and the worker uses another way in or fails
// registration with FST_SHARED_STATE_AUTH.

const teardown = new Teardown()
afterEach(() => teardown.run())

function uniqueSecret (): string {
  return `s3cret-${randomBytes(12).toString('hex')}`
}

function localName (port: number): string {
  return localSocketName({ kind: 'tcp', host: '127.0.0.1', port }) as string
}

/** What a relay must never have: the secret, in the bytes it carried, in any form MessagePack gives it. */
function expectNeverSeen (relay: Relay, secret: string): void {
  expect(relay.captured.includes(Buffer.from(secret))).toBe(false)
}

/**
 * Shown the host's view, a worker sends nothing at all through the relay; shown its own, it
 * answers the challenge (which proves the relay did fool it that far) and nothing after.
 */
function expectWorkerBytes (relay: Relay, rewriteView: boolean): void {
  if (rewriteView) expect(relay.fromWorkers).toBeGreaterThan(0)
  else expect(relay.fromWorkers).toBe(0)
}

/** Writes a session record through `writer` and reads it back through `reader`. */
async function roundTrip (writer: WorkerProcess, reader: WorkerProcess, secret: string): Promise<void> {
  await writer.call('set', 'session:alice', { user: 'alice', token: secret })
  expect(await reader.call('get', 'session:alice')).toEqual({ user: 'alice', token: secret })
}

// A relay either passes the host's challenge on as it is (the worker sees the views differ and
// stops there), or shows the worker its own view (the worker answers, and the host refuses).
const RELAYS: Array<[string, boolean]> = [['that passes the challenge on', false], ['that rewrites the view in the challenge', true]]

test.each(RELAYS)('a relay holding the local socket name at start-up, %s, gets nothing: the worker refuses it, says so, and uses TCP', async (_, rewriteView) => {
  const port = await freePort()
  const relay = await Relay.listen({ path: localName(port) }, { port }, forgedSet('forged'), teardown, rewriteView)
  const options = { port, key: TEST_KEY }
  const host = await startWorker(teardown, options)
  const client = await startWorker(teardown, options)
  expect([host.role, client.role]).toEqual(['host', 'client'])
  const secret = uniqueSecret()
  await roundTrip(client, host, secret)
  await roundTrip(host, client, secret)
  // The client did try the relay (it tries the local socket first) and refused it.
  expect(relay.accepted).toBeGreaterThan(0)
  await waitFor(() => client.output.includes('refused the local socket'), 10000, 'the warning about the relay')
  expect(client.output).toContain('FST_SHARED_STATE_AUTH')
  expectWorkerBytes(relay, rewriteView)
  expectNeverSeen(relay, secret)
  expect(await host.call('has', 'forged')).toBe(false)
})

test('a relay that takes the local socket name after the host is killed gets nothing either', async () => {
  const port = await freePort()
  const options = { port, key: TEST_KEY, connectTimeout: 5000 }
  const host = await startWorker(teardown, options)
  const survivors = [await startWorker(teardown, options), await startWorker(teardown, options)]
  // The survivors are paused, so the relay takes the freed name before either can elect itself:
  // the worst moment for the workers, made certain instead of left to a race.
  for (const survivor of survivors) process.kill(survivor.pid, 'SIGSTOP')
  teardown.add(() => { for (const survivor of survivors) if (!survivor.exited) process.kill(survivor.pid, 'SIGCONT') })
  await host.kill('SIGKILL')
  let relay: Relay | undefined
  await waitFor(async () => {
    relay = await Relay.listen({ path: localName(port) }, { port }, forgedSet('forged'), teardown).catch(() => undefined)
    return relay !== undefined
  }, 10000, 'the relay to take the local socket name')
  for (const survivor of survivors) process.kill(survivor.pid, 'SIGCONT')

  await waitFor(async () => {
    const roles = await Promise.all(survivors.map((survivor) => survivor.call<string>('role')))
    return roles.includes('host') && roles.includes('client')
  }, 15000, 'a new host and its client')
  const roles = await Promise.all(survivors.map((survivor) => survivor.call<string>('role')))
  const newHost = survivors[roles.indexOf('host')] as WorkerProcess
  const client = survivors[roles.indexOf('client')] as WorkerProcess
  const secret = uniqueSecret()
  await roundTrip(client, newHost, secret)
  await roundTrip(newHost, client, secret)
  expect((relay as Relay).accepted).toBeGreaterThan(0)
  await waitFor(() => client.output.includes('refused the local socket'), 10000, 'the warning about the relay')
  expectWorkerBytes(relay as Relay, false)
  expectNeverSeen(relay as Relay, secret)
  expect(await newHost.call('has', 'forged')).toBe(false)
})

test('a relay on the local socket name through a graceful handover gets nothing: the workers reconnect to the successor over TCP', async () => {
  const port = await freePort()
  const relay = await Relay.listen({ path: localName(port) }, { port }, forgedSet('forged'), teardown)
  const options = { port, key: TEST_KEY, connectTimeout: 5000 }
  const host = await startWorker(teardown, options)
  const client = await startWorker(teardown, options)
  const successor = await startWorker(teardown, options)
  const before = uniqueSecret()
  await roundTrip(client, host, before)
  const refusalsBefore = client.output.split('refused the local socket').length
  // The host hands its state to its newest worker, and the others reconnect to that one.
  await host.call('close')
  await waitFor(async () => await successor.call('role') === 'host', 15000, 'the successor to host')
  const after = uniqueSecret()
  await roundTrip(client, successor, after)
  expect(await client.call('get', 'session:alice')).toEqual({ user: 'alice', token: after })
  await waitFor(() => client.output.split('refused the local socket').length > refusalsBefore, 10000, 'the refusal after the handover')
  expectWorkerBytes(relay, false)
  expectNeverSeen(relay, before)
  expectNeverSeen(relay, after)
  expect(await successor.call('has', 'forged')).toBe(false)
})

test.each(RELAYS)('a worker pointed at a relay port %s fails registration with FST_SHARED_STATE_AUTH', async (_, rewriteView) => {
  const hostPort = await freePort()
  const relayPort = await freePort()
  const host = await startWorker(teardown, { port: hostPort, key: TEST_KEY })
  const relay = await Relay.listen({ port: relayPort }, { port: hostPort }, forgedSet('forged'), teardown, rewriteView)
  const secret = uniqueSecret()
  // Defaults are written right after registration: the first thing a relay would read.
  const failure = await startFailure({ port: relayPort, key: TEST_KEY, defaults: { session: secret } })
  expect(failure.code).toBe('FST_SHARED_STATE_AUTH')
  expect(failure.message).toContain(rewriteView ? 'refused this worker\'s key' : 'relays it')
  // The inspect command refuses the relay the same way.
  const inspect = await runInspect(teardown, ['inspect', '--port', String(relayPort)], TEST_KEY)
  expect(inspect.code).toBe(1)
  expect(inspect.stderr).toContain('FST_SHARED_STATE_AUTH')
  expect(relay.accepted).toBeGreaterThanOrEqual(2)
  expectWorkerBytes(relay, rewriteView)
  expectNeverSeen(relay, secret)
  expect(await host.call('has', 'forged')).toBe(false)
  expect(await host.call('has', 'session')).toBe(false)
})

test.each(RELAYS)('a relay put in place of the host\'s socket file, %s, is refused: a new worker fails with FST_SHARED_STATE_AUTH, the others go on', async (_, rewriteView) => {
  const dir = await mkdtemp(join(tmpdir(), 'shared-state-relay-'))
  teardown.add(() => rm(dir, { recursive: true, force: true }))
  const path = join(dir, 'state.sock')
  const host = await startWorker(teardown, { path, key: TEST_KEY })
  const client = await startWorker(teardown, { path, key: TEST_KEY })
  // The relay moves the host's socket file aside and listens at its path, forwarding there.
  await rename(path, `${path}.real`)
  const relay = await Relay.listen({ path }, { path: `${path}.real` }, forgedSet('forged'), teardown, rewriteView)
  const secret = uniqueSecret()
  const failure = await startFailure({ path, key: TEST_KEY, defaults: { session: secret } })
  expect(failure.code).toBe('FST_SHARED_STATE_AUTH')
  expect(relay.accepted).toBeGreaterThan(0)
  expectWorkerBytes(relay, rewriteView)
  expectNeverSeen(relay, secret)
  expect(await host.call('has', 'forged')).toBe(false)
  expect(await host.call('has', 'session')).toBe(false)
  // The worker connected before the swap keeps its direct connection.
  await roundTrip(client, host, secret)
})
