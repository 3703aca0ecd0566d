import { ValueCodec } from '../../lib/protocol/codec'
import { opCode, REPLY_ERROR, REPLY_OK } from '../../lib/protocol/messages'
import { oneTo } from '../helpers/load'
import { freePort } from '../helpers/ports'
import { TEST_KEY, waitFor } from '../helpers/processes'
import { frame, RawPeer } from '../helpers/raw-peer'
import { Teardown } from '../helpers/teardown'
import { startWorker, type WorkerProcess } from '../helpers/worker-process'

// What an authenticated peer can break: a malformed frame closes its own connection and nothing
// else; a well-framed request the host does not accept gets an error reply and the connection
// stays open.

const MAX_FRAME_BYTES = 64 * 1024
const codec = new ValueCodec()

interface Setup {
  host: WorkerProcess
  client: WorkerProcess
  port: number
}

async function startHostAndClient (teardown: Teardown): Promise<Setup> {
  const port = await freePort()
  const options = { port, key: TEST_KEY, maxFrameBytes: MAX_FRAME_BYTES }
  const host = await startWorker(teardown, options)
  expect(host.role).toBe('host')
  const client = await startWorker(teardown, options)
  expect(client.role).toBe('client')
  await client.call('set', 'kept', { list: [1, 2, 3] })
  await client.call('incr', 'n', 10)
  return { host, client, port }
}

async function authenticatedPeer (port: number, teardown: Teardown): Promise<RawPeer> {
  const peer = await RawPeer.connect({ port }, teardown)
  await peer.handshake(TEST_KEY)
  return peer
}

describe('a malformed frame from an authenticated peer', () => {
  const teardown = new Teardown()
  afterEach(() => teardown.run())

  const oversized = Buffer.alloc(4)
  oversized.writeUInt32BE(MAX_FRAME_BYTES + 1)

  const malformed: Array<[string, Buffer]> = [
    // 0xc1 is the one byte MessagePack never uses.
    ['bytes that are not MessagePack', Buffer.from([0, 0, 0, 3, 0xc1, 0xc1, 0xc1])],
    // Only the header: the limit applies to the declared length, before any body is buffered.
    ['a frame declaring more than maxFrameBytes', oversized],
    ['a valid request, then bytes that are not MessagePack, in one write', Buffer.concat([frame([1, opCode('ping')]), Buffer.from([0, 0, 0, 1, 0xc1])])],
    ['a message that is not a request', frame('hello')],
    ['a request without a positive id', frame([0, opCode('get'), 'kept'])]
  ]

  test.each(malformed)('(%s) closes that connection alone; the host and every other worker go on', async (_, bytes) => {
    const { host, client, port } = await startHostAndClient(teardown)
    const bystander = await authenticatedPeer(port, teardown)
    const offender = await authenticatedPeer(port, teardown)
    // The offender holds a lock: its connection closing must hand the lock on, as a death would.
    const [, status, token] = await offender.request(opCode('acquireLock'), 'offender', 1000, 0)
    expect(status).toBe(REPLY_OK)
    expect(token).toEqual(expect.any(Number))

    offender.write(bytes)
    await offender.waitClosed()

    expect(bystander.closed).toBe(false)
    expect(await bystander.request(opCode('ping'))).toEqual([expect.any(Number), REPLY_OK, null])
    expect(await client.call('get', 'kept')).toEqual({ list: [1, 2, 3] })
    expect(await client.call('incr', 'n')).toBe(11)
    expect(await host.call('incr', 'n')).toBe(12)
    await waitFor(async () => !(await client.call<boolean>('isLocked', 'offender')), 10000, 'the offender\'s lock to be freed')
    // The host says whose connection it closed; nothing else went wrong.
    await waitFor(() => host.output.includes('closing'), 10000, 'the host\'s warning')
  })
})

describe('a well-framed request the host does not accept', () => {
  const teardown = new Teardown()
  let setup: Setup
  let peer: RawPeer

  beforeAll(async () => {
    setup = await startHostAndClient(teardown)
    peer = await authenticatedPeer(setup.port, teardown)
  })
  afterAll(() => teardown.run())

  const protocolErrors: Array<[string, unknown, unknown[]]> = [
    ['an unknown op', 999, []],
    ['a negative op', -1, []],
    ['an op given by name', 'get', ['kept']],
    ['a key that is not a string', opCode('get'), [42]],
    ['a missing argument', opCode('get'), []],
    ['an extra argument', opCode('get'), ['kept', 'extra']],
    ['an increment that is not a number', opCode('incr'), ['n', '1']],
    ['an increment that is not finite', opCode('incr'), ['n', Infinity]],
    ['a value that is not encoded bytes', opCode('set'), ['kept', 'raw string', 0]],
    ['a negative ttl', opCode('set'), ['kept', codec.encode(1), -5]],
    ['a fractional lock timeout', opCode('acquireLock'), ['default', 1.5, 0]],
    ['items that are not an array', opCode('push'), [['list'], codec.encode(1)]]
  ]

  test.each(protocolErrors)('(%s) gets an FST_SHARED_STATE_PROTOCOL reply and the connection stays open', async (_, op, args) => {
    const reply = await peer.request(op, ...args)
    expect(reply).toEqual([expect.any(Number), REPLY_ERROR, 'FST_SHARED_STATE_PROTOCOL', expect.any(String)])
    expect(peer.closed).toBe(false)
    expect(await peer.request(opCode('ping'))).toEqual([expect.any(Number), REPLY_OK, null])
  })

  test('a path through __proto__ gets an FST_SHARED_STATE_BAD_PATH reply and the connection stays open', async () => {
    const reply = await peer.request(opCode('setIn'), ['kept', '__proto__', 'polluted'], codec.encode(true))
    expect(reply).toEqual([expect.any(Number), REPLY_ERROR, 'FST_SHARED_STATE_BAD_PATH', expect.any(String)])
    expect(peer.closed).toBe(false)
  })

  test('after all of that the peer still works, and so do the workers; nothing was changed', async () => {
    expect(await peer.request(opCode('set'), 'from-raw-peer', codec.encode(new Map([[1, 'one']])), 0))
      .toEqual([expect.any(Number), REPLY_OK, null])
    expect(await setup.client.call('get', 'from-raw-peer')).toEqual(new Map([[1, 'one']]))
    const [, status, raw] = await peer.request(opCode('get'), 'kept')
    expect(status).toBe(REPLY_OK)
    expect(codec.decode(raw as Uint8Array)).toEqual({ list: [1, 2, 3] })
    expect(await setup.host.call('get', 'n')).toBe(10)
    expect(await setup.host.call('keys')).toEqual(expect.arrayContaining(['kept', 'n', 'from-raw-peer']))
    expect(await setup.host.call('size')).toBe(3)
  })
})

describe('a worker\'s own message larger than maxFrameBytes', () => {
  // A legitimate worker, not an attacker: a value or a reply too large for the limit must fail
  // that one call with FRAME_TOO_LARGE and leave the connection, and the worker's other calls,
  // alone. The short timeout bounds how long a wrong behaviour takes to show.
  const teardown = new Teardown()
  afterEach(() => teardown.run())
  const TOO_LARGE = MAX_FRAME_BYTES + 1024

  async function startSmallTimeout (): Promise<Setup> {
    const port = await freePort()
    const options = { port, key: TEST_KEY, maxFrameBytes: MAX_FRAME_BYTES, timeout: 2000 }
    const host = await startWorker(teardown, options)
    const client = await startWorker(teardown, options)
    expect(client.role).toBe('client')
    return { host, client, port }
  }

  test('a value too large to send rejects with FST_SHARED_STATE_FRAME_TOO_LARGE; the worker\'s other calls go on', async () => {
    const { host, client } = await startSmallTimeout()
    const [failure, counts] = await Promise.all([
      client.failure('setBuffers', 'big', { $buffer: new Uint8Array(TOO_LARGE) }),
      // The other calls' error, if any, shows in the diff rather than ending the test first.
      client.call<number[]>('many', 'incr', 20, 'n').then((all) => all.sort((x, y) => x - y), (error: { code: string }) => error.code)
    ])
    expect(failure.code).toBe('FST_SHARED_STATE_FRAME_TOO_LARGE')
    expect(counts).toEqual(oneTo(20))
    expect(await host.call('has', 'big')).toBe(false)
    // A value that fits still goes through the same connection.
    await client.call('setBuffers', 'fits', { $buffer: new Uint8Array(MAX_FRAME_BYTES / 2) })
    expect(await host.call('has', 'fits')).toBe(true)
  })

  test('a reply too large for the client rejects with FST_SHARED_STATE_FRAME_TOO_LARGE; the worker\'s other calls go on', async () => {
    const { host, client } = await startSmallTimeout()
    // The host's own worker writes without a frame, so the state can hold what a reply cannot carry.
    await host.call('setBuffers', 'big', { $buffer: new Uint8Array(TOO_LARGE) })
    const [failure, counts] = await Promise.all([
      client.failure('get', 'big'),
      // The other calls' error, if any, shows in the diff rather than ending the test first.
      client.call<number[]>('many', 'incr', 20, 'n').then((all) => all.sort((x, y) => x - y), (error: { code: string }) => error.code)
    ])
    expect(failure.code).toBe('FST_SHARED_STATE_FRAME_TOO_LARGE')
    expect(counts).toEqual(oneTo(20))
    expect(await client.call('has', 'big')).toBe(true)
  })
})
