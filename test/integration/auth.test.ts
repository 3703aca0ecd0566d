import { randomBytes } from 'node:crypto'
import { createServer, type Server, type Socket } from 'node:net'
import { hostView } from '../../lib/connection-view'
import { ClientHandshake, MAGIC, PROTOCOL_VERSION } from '../../lib/protocol/auth'
import { freePort } from '../helpers/ports'
import { TEST_KEY, waitFor } from '../helpers/processes'
import { frame, RawPeer } from '../helpers/raw-peer'
import { Teardown } from '../helpers/teardown'
import { startFailure, startWorker, type WorkerProcess } from '../helpers/worker-process'

// Who may talk to the host, and what a stranger learns: the key authenticates both ways, a
// squatter on the port fails registration with a clear code, and an unauthenticated peer gets the
// challenge and nothing else.

const teardown = new Teardown()
afterEach(() => teardown.run())

const WRONG_KEY = 'another-key-fedcba9876543210'

/** A TCP server on `port` that is not a shared-state host; its connections go with it. */
async function squat (port: number, onConnection: (socket: Socket) => void): Promise<{ server: Server, received: () => Buffer }> {
  const sockets = new Set<Socket>()
  let received = Buffer.alloc(0)
  const server = createServer((socket) => {
    sockets.add(socket)
    socket.on('data', (chunk) => { received = Buffer.concat([received, chunk]) })
    socket.on('error', () => {})
    socket.on('close', () => sockets.delete(socket))
    onConnection(socket)
  })
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port }, resolve))
  teardown.add(() => new Promise<void>((resolve) => {
    for (const socket of sockets) socket.destroy()
    server.close(() => resolve())
  }))
  return { server, received: () => received }
}

/** The host's state, every key and value, as its own worker sees it. */
function snapshot (host: WorkerProcess): Promise<Array<[string, unknown]>> {
  return host.call('entries')
}

async function startHost (options: Record<string, unknown> = {}): Promise<{ host: WorkerProcess, port: number }> {
  const port = await freePort()
  const host = await startWorker(teardown, { port, key: TEST_KEY, ...options })
  expect(host.role).toBe('host')
  await host.call('set', 'secret', 'only for workers with the key')
  await host.call('incr', 'n', 7)
  return { host, port }
}

describe('keys', () => {
  test('a worker with the wrong key fails with FST_SHARED_STATE_AUTH and changes nothing', async () => {
    const { host, port } = await startHost()
    const before = await snapshot(host)

    // Its defaults would write to the state if it got in.
    const failure = await startFailure({ port, key: WRONG_KEY, defaults: { intruder: true, n: 0 } })
    expect(failure.code).toBe('FST_SHARED_STATE_AUTH')
    expect(failure.message).toContain(`127.0.0.1:${port}`)

    expect(await snapshot(host)).toEqual(before)
    // And the host goes on serving workers that have the key.
    const client = await startWorker(teardown, { port, key: TEST_KEY })
    expect(await client.call('incr', 'n')).toBe(8)
  })

  test('a host that cannot prove it knows the key fails registration with FST_SHARED_STATE_AUTH', async () => {
    // An impostor greets correctly (its view of the connection too) and accepts any proof, but
    // cannot answer with a proof of its own.
    const port = await freePort()
    const impostor = await squat(port, (socket) => {
      socket.write(frame([MAGIC, PROTOCOL_VERSION, randomBytes(32), hostView(socket)]))
      socket.once('data', () => socket.write(frame([randomBytes(32), { pid: 1 }])))
    })
    const failure = await startFailure({ port, key: TEST_KEY, defaults: { sent: 'only after auth' } })
    expect(failure.code).toBe('FST_SHARED_STATE_AUTH')
    // The worker sent its answer to the challenge and not one operation after it.
    const received = impostor.received()
    expect(received.length).toBe(4 + received.readUInt32BE(0))
  })

  test('neither the key nor a short key ever reaches the logs; a short key logs a warning', async () => {
    const port = await freePort()
    const host = await startWorker(teardown, { port, key: TEST_KEY }, { LOG_LEVEL: 'trace' })
    const client = await startWorker(teardown, { port, key: TEST_KEY }, { LOG_LEVEL: 'trace' })
    await client.call('set', 'a', 1)
    const shortKey = 'q7Zx9Kv2'
    const short = await startWorker(teardown, { port: await freePort(), key: shortKey }, { LOG_LEVEL: 'info' })
    await waitFor(() => short.output.includes('shorter than 16 bytes'), 10000, 'the short key warning')
    await waitFor(() => host.output.includes('shared state: host') && client.output.includes('shared state: client'), 10000, 'the role lines')
    for (const output of [host.output, client.output]) expect(output).not.toContain(TEST_KEY)
    expect(short.output).not.toContain(shortKey)
  })
})

describe('a squatter on the port', () => {
  const squatters: Array<[string, (socket: Socket) => void]> = [
    ['accepts and sends nothing', () => {}],
    ['answers like a web server', (socket) => socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n')],
    ['sends well-formed frames of another protocol', (socket) => socket.write(frame(['PING', 1, 'not shared state']))],
    ['sends random bytes', (socket) => socket.write(randomBytes(64))]
  ]

  test.each(squatters)('that %s makes registration fail with FST_SHARED_STATE_PORT_TAKEN naming the port', async (_, behave) => {
    const port = await freePort()
    await squat(port, behave)
    const failure = await startFailure({ port, key: TEST_KEY, connectTimeout: 1000 })
    expect(failure.code).toBe('FST_SHARED_STATE_PORT_TAKEN')
    expect(failure.message).toContain(String(port))
  })
})

describe('an unauthenticated peer', () => {
  /** Checks that `peer` received exactly one frame, the challenge, and nothing after it. */
  function expectOnlyTheChallenge (peer: RawPeer): void {
    expect(peer.messages).toHaveLength(1)
    expect(peer.received.length).toBe(4 + peer.received.readUInt32BE(0))
  }

  const badAnswers: Array<[string, (challenge: unknown) => unknown]> = [
    ['a random proof', () => [randomBytes(32), randomBytes(32), 'intruder', { pid: 1 }]],
    ['a proof made with another key', (challenge) => new ClientHandshake(Buffer.from(WRONG_KEY), 'intruder', { pid: 1 }).respond(challenge, (challenge as unknown[])[3] as string)],
    ['a malformed answer', () => 'let me in'],
    ['an answer with a client id too long', (challenge) => new ClientHandshake(Buffer.from(TEST_KEY), 'x'.repeat(65), { pid: 1 }).respond(challenge, (challenge as unknown[])[3] as string)]
  ]

  test.each(badAnswers)('that sends %s gets the challenge only, then the connection closes', async (_, answer) => {
    const { host, port } = await startHost()
    const before = await snapshot(host)
    const peer = await RawPeer.connect({ port }, teardown)
    const challenge = await peer.next('the challenge')
    expect(challenge).toEqual([MAGIC, PROTOCOL_VERSION, expect.any(Uint8Array), expect.any(String)])
    expect((challenge as Uint8Array[])[2]).toHaveLength(32)

    peer.send(answer(challenge))
    await peer.waitClosed()
    expectOnlyTheChallenge(peer)
    expect(await snapshot(host)).toEqual(before)
  })

  test('that sends a frame larger than a handshake needs is closed before it is read', async () => {
    const { host, port } = await startHost()
    const peer = await RawPeer.connect({ port }, teardown)
    await peer.next('the challenge')
    const header = Buffer.alloc(4)
    header.writeUInt32BE(64 * 1024)
    // Only the header: the host must refuse on the declared length, without waiting for the body.
    peer.write(header)
    await peer.waitClosed()
    expectOnlyTheChallenge(peer)
    expect(await host.call('get', 'n')).toBe(7)
  })

  test('that never answers the challenge is disconnected after handshakeTimeout', async () => {
    const { host, port } = await startHost({ handshakeTimeout: 300 })
    const silent = await RawPeer.connect({ port }, teardown)
    await silent.next('the challenge')
    // Half a frame, then silence: a slow-loris peer is cut off the same way.
    const slow = await RawPeer.connect({ port }, teardown)
    await slow.next('the challenge')
    slow.write(Buffer.from([0, 0, 0, 40, 0x94]))

    await silent.waitClosed()
    await slow.waitClosed()
    expectOnlyTheChallenge(silent)
    expectOnlyTheChallenge(slow)
    // A worker that answers in time is not affected by the short handshake timeout.
    const client = await startWorker(teardown, { port, key: TEST_KEY })
    expect(await client.call('incr', 'n')).toBe(8)
    expect(await host.call('get', 'n')).toBe(8)
  })
})
