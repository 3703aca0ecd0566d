import { createHmac, randomBytes } from 'node:crypto'
import { decode, encode } from '@msgpack/msgpack'
import {
  ClientHandshake, HandshakeError, HostHandshake, MAGIC, PROTOCOL_VERSION, type PeerInfo
} from '../../lib/protocol/auth'

const KEY = Buffer.from('a long shared secret, 32 bytes!!')
const OTHER_KEY = Buffer.from('another long secret of 32 bytes!')
const HOST_INFO: PeerInfo = { pid: 1001 }
const CLIENT_INFO: PeerInfo = { pid: 2002 }
const VIEW = 'tcp 127.0.0.1:50000 > 127.0.0.1:35791'

/** What the other side receives: every handshake message crosses the wire as MessagePack. */
function wire<T> (message: T): unknown {
  return decode(encode(message))
}

function failure (run: () => unknown): HandshakeError {
  let thrown: unknown
  try {
    run()
  } catch (error) {
    thrown = error
  }
  expect(thrown).toBeInstanceOf(HandshakeError)
  return thrown as HandshakeError
}

function challengeWith (nonce: unknown, magic: unknown = MAGIC, version: unknown = PROTOCOL_VERSION): unknown[] {
  return [magic, version, nonce, VIEW]
}

describe('handshake: success', () => {
  test('a client and a host sharing the key authenticate each other', () => {
    const host = new HostHandshake(KEY, HOST_INFO, VIEW)
    const client = new ClientHandshake(KEY, 'worker-7', CLIENT_INFO)
    const response = client.respond(wire(host.challenge()), VIEW)
    const verified = host.verify(wire(response))
    expect(verified.clientId).toBe('worker-7')
    expect(verified.info).toEqual(CLIENT_INFO)
    expect(client.verify(wire(verified.welcome))).toEqual(HOST_INFO)
  })

  test('without a trip through MessagePack too (Buffers as sent)', () => {
    const host = new HostHandshake(KEY, HOST_INFO, VIEW)
    const client = new ClientHandshake(KEY, 'worker-8', CLIENT_INFO)
    const { welcome } = host.verify(client.respond(host.challenge(), VIEW))
    expect(client.verify(welcome)).toEqual(HOST_INFO)
  })

  test('the challenge is [MAGIC, PROTOCOL_VERSION, 32 random bytes, the host\'s view], fresh per connection', () => {
    const first = new HostHandshake(KEY, HOST_INFO, VIEW).challenge()
    const second = new HostHandshake(KEY, HOST_INFO, VIEW).challenge()
    expect(first.slice(0, 2)).toEqual([MAGIC, PROTOCOL_VERSION])
    expect(first[3]).toBe(VIEW)
    expect(first[2]).toBeInstanceOf(Uint8Array)
    expect((first[2] as Uint8Array).length).toBe(32)
    expect(Buffer.compare(first[2] as Uint8Array, second[2] as Uint8Array)).not.toBe(0)
  })

  test('the info returned holds only the pid, whatever else the peer sent', () => {
    const host = new HostHandshake(KEY, HOST_INFO, VIEW)
    const client = new ClientHandshake(KEY, 'worker-9', { pid: 5, extra: 'dropped' } as unknown as PeerInfo)
    const verified = host.verify(wire(client.respond(wire(host.challenge()), VIEW)))
    expect(verified.info).toStrictEqual({ pid: 5 })
  })
})

describe('handshake: a wrong key on either side', () => {
  test('a client with the wrong key is refused by the host (reason auth)', () => {
    const host = new HostHandshake(KEY, HOST_INFO, VIEW)
    const client = new ClientHandshake(OTHER_KEY, 'intruder', CLIENT_INFO)
    const response = client.respond(wire(host.challenge()), VIEW)
    const error = failure(() => host.verify(wire(response)))
    expect(error.reason).toBe('auth')
  })

  test('a host that does not know the key cannot produce a welcome the client accepts (reason auth)', () => {
    // A squatter: it greets correctly but signs its welcome with another key.
    const squatterNonce = randomBytes(32)
    const client = new ClientHandshake(KEY, 'worker-1', CLIENT_INFO)
    const response = wire(client.respond(wire(challengeWith(squatterNonce)), VIEW)) as [Uint8Array, ...unknown[]]
    const forged = createHmac('sha256', OTHER_KEY).update('host').update(response[0]).update(squatterNonce).digest()
    const error = failure(() => client.verify(wire([forged, HOST_INFO])))
    expect(error.reason).toBe('auth')
  })

  test('a host with another key fails on both sides', () => {
    const host = new HostHandshake(OTHER_KEY, HOST_INFO, VIEW)
    const client = new ClientHandshake(KEY, 'worker-2', CLIENT_INFO)
    const response = client.respond(wire(host.challenge()), VIEW)
    expect(failure(() => host.verify(wire(response))).reason).toBe('auth')
  })

  test('a squatter echoing the client proof as its welcome is refused (reason auth)', () => {
    const squatterNonce = randomBytes(32)
    const client = new ClientHandshake(KEY, 'worker-3', CLIENT_INFO)
    const response = wire(client.respond(wire(challengeWith(squatterNonce)), VIEW)) as unknown[]
    const error = failure(() => client.verify(wire([response[1], HOST_INFO])))
    expect(error.reason).toBe('auth')
  })

  test('a welcome recorded from another session is refused by a new client (reason auth)', () => {
    const host = new HostHandshake(KEY, HOST_INFO, VIEW)
    const first = new ClientHandshake(KEY, 'worker-4', CLIENT_INFO)
    const recorded = host.verify(wire(first.respond(wire(host.challenge()), VIEW))).welcome
    const second = new ClientHandshake(KEY, 'worker-4', CLIENT_INFO)
    second.respond(wire(host.challenge()), VIEW)
    expect(failure(() => second.verify(wire(recorded))).reason).toBe('auth')
  })
})

describe('handshake: replay', () => {
  test('a client response recorded from one session is refused by a fresh HostHandshake', () => {
    const original = new HostHandshake(KEY, HOST_INFO, VIEW)
    const client = new ClientHandshake(KEY, 'worker-5', CLIENT_INFO)
    const recorded = wire(client.respond(wire(original.challenge()), VIEW))
    expect(original.verify(recorded).clientId).toBe('worker-5')

    const fresh = new HostHandshake(KEY, HOST_INFO, VIEW)
    fresh.challenge()
    const error = failure(() => fresh.verify(recorded))
    expect(error.reason).toBe('auth')
  })

  test('a response whose client id was changed in transit is refused', () => {
    const host = new HostHandshake(KEY, HOST_INFO, VIEW)
    const client = new ClientHandshake(KEY, 'worker-6', CLIENT_INFO)
    const response = wire(client.respond(wire(host.challenge()), VIEW)) as unknown[]
    response[2] = 'someone-else'
    expect(failure(() => host.verify(response)).reason).toBe('auth')
  })
})

describe('handshake: a peer that does not speak the protocol', () => {
  test.each([
    ['an SSH banner', 'SSH-2.0-OpenSSH_9.6'],
    ['an HTTP response', Buffer.from('HTTP/1.1 400 Bad Request\r\n\r\n')],
    ['null', null],
    ['a number', 42],
    ['an object', { magic: MAGIC }],
    ['an empty array', []],
    ['another magic', challengeWith(randomBytes(32), 'redis')],
    ['the magic in another case', challengeWith(randomBytes(32), MAGIC.toUpperCase())]
  ])('%s as greeting gives reason not-protocol', (_name, greeting) => {
    const client = new ClientHandshake(KEY, 'worker-1', CLIENT_INFO)
    const error = failure(() => client.respond(greeting, VIEW))
    expect(error.reason).toBe('not-protocol')
  })

  test.each([
    ['a missing nonce', challengeWith(undefined)],
    ['a short nonce', challengeWith(randomBytes(31))],
    ['a long nonce', challengeWith(randomBytes(33))],
    ['a string nonce', challengeWith('x'.repeat(32))]
  ])('our magic with %s gives reason not-protocol', (_name, greeting) => {
    const client = new ClientHandshake(KEY, 'worker-1', CLIENT_INFO)
    expect(failure(() => client.respond(wire(greeting), VIEW)).reason).toBe('not-protocol')
  })

  test.each([
    ['a newer version', PROTOCOL_VERSION + 1],
    ['an older version', PROTOCOL_VERSION - 1],
    ['the version as a string', String(PROTOCOL_VERSION)],
    ['no version', null]
  ])('our magic with %s gives reason version', (_name, version) => {
    const client = new ClientHandshake(KEY, 'worker-1', CLIENT_INFO)
    const error = failure(() => client.respond(wire(challengeWith(randomBytes(32), MAGIC, version)), VIEW))
    expect(error.reason).toBe('version')
  })

  test('a welcome before any challenge gives reason not-protocol', () => {
    const client = new ClientHandshake(KEY, 'worker-1', CLIENT_INFO)
    expect(failure(() => client.verify([Buffer.alloc(32), HOST_INFO])).reason).toBe('not-protocol')
  })

  test.each([
    ['not an array', 'welcome'],
    ['one element', [Buffer.alloc(32)]],
    ['three elements', [Buffer.alloc(32), HOST_INFO, 'extra']],
    ['info without pid', [Buffer.alloc(32), {}]],
    ['info with a string pid', [Buffer.alloc(32), { pid: '1' }]]
  ])('a malformed welcome (%s) gives reason not-protocol', (_name, welcome) => {
    const client = new ClientHandshake(KEY, 'worker-1', CLIENT_INFO)
    client.respond(wire(new HostHandshake(KEY, HOST_INFO, VIEW).challenge()), VIEW)
    expect(failure(() => client.verify(wire(welcome))).reason).toBe('not-protocol')
  })
})

describe('handshake: malformed responses and proofs', () => {
  function validResponse (host: HostHandshake): unknown[] {
    const client = new ClientHandshake(KEY, 'worker-1', CLIENT_INFO)
    return wire(client.respond(wire(host.challenge()), VIEW)) as unknown[]
  }

  test.each([0, 1, 16, 31, 33, 64, 1000])('a client proof of %d bytes is refused with reason auth, not a RangeError', (length) => {
    const host = new HostHandshake(KEY, HOST_INFO, VIEW)
    const response = validResponse(host)
    response[1] = randomBytes(length)
    const error = failure(() => host.verify(response))
    expect(error.reason).toBe('auth')
    expect(error).not.toBeInstanceOf(RangeError)
  })

  test.each([
    ['a string', 'x'.repeat(32)],
    ['null', null],
    ['an array of numbers', new Array(32).fill(0)]
  ])('a client proof that is %s is refused with reason auth', (_name, proof) => {
    const host = new HostHandshake(KEY, HOST_INFO, VIEW)
    const response = validResponse(host)
    response[1] = proof
    expect(failure(() => host.verify(response)).reason).toBe('auth')
  })

  test.each([0, 1, 31, 33, 64])('a host proof of %d bytes is refused by the client with reason auth, not a RangeError', (length) => {
    const client = new ClientHandshake(KEY, 'worker-1', CLIENT_INFO)
    client.respond(wire(new HostHandshake(KEY, HOST_INFO, VIEW).challenge()), VIEW)
    const error = failure(() => client.verify(wire([randomBytes(length), HOST_INFO])))
    expect(error.reason).toBe('auth')
    expect(error).not.toBeInstanceOf(RangeError)
  })

  test.each([
    ['not an array', () => 'hello'],
    ['too short', (r: unknown[]) => r.slice(0, 3)],
    ['too long', (r: unknown[]) => [...r, 'extra']],
    ['a short client nonce', (r: unknown[]) => [randomBytes(16), r[1], r[2], r[3]]],
    ['a string client nonce', (r: unknown[]) => ['n'.repeat(32), r[1], r[2], r[3]]],
    ['an empty client id', (r: unknown[]) => [r[0], r[1], '', r[3]]],
    ['a client id of 65 characters', (r: unknown[]) => [r[0], r[1], 'w'.repeat(65), r[3]]],
    ['a numeric client id', (r: unknown[]) => [r[0], r[1], 7, r[3]]],
    ['no info', (r: unknown[]) => [r[0], r[1], r[2], null]],
    ['info without a pid', (r: unknown[]) => [r[0], r[1], r[2], { name: 'x' }]]
  ])('a response %s is refused with reason auth', (_name, mangle) => {
    const host = new HostHandshake(KEY, HOST_INFO, VIEW)
    const response = mangle(validResponse(host))
    expect(failure(() => host.verify(response)).reason).toBe('auth')
  })
})

describe('handshake: bound to the connection', () => {
  const RELAYED = 'tcp 127.0.0.1:50001 > 127.0.0.1:35791'

  test('a worker whose view differs from the host\'s refuses before it proves anything (reason relay)', () => {
    const host = new HostHandshake(KEY, HOST_INFO, RELAYED)
    const client = new ClientHandshake(KEY, 'worker-1', CLIENT_INFO)
    const error = failure(() => client.respond(wire(host.challenge()), VIEW))
    expect(error.reason).toBe('relay')
    expect(error.message).toContain(RELAYED)
  })

  test('a relay that rewrites the view in the challenge gets a proof the host refuses', () => {
    const host = new HostHandshake(KEY, HOST_INFO, RELAYED)
    const challenge = wire(host.challenge()) as unknown[]
    challenge[3] = VIEW
    const client = new ClientHandshake(KEY, 'worker-1', CLIENT_INFO)
    expect(failure(() => host.verify(wire(client.respond(challenge, VIEW)))).reason).toBe('auth')
  })

  test('a welcome made for another connection is refused by the worker', () => {
    // The relay answers the worker itself with a challenge showing the worker's view, and hands
    // the worker the welcome of the host's connection, whose view differs.
    const worker = new ClientHandshake(KEY, 'worker-1', CLIENT_INFO)
    const relayChallenge = challengeWith(randomBytes(32))
    worker.respond(wire(relayChallenge), VIEW)
    const host = new HostHandshake(KEY, HOST_INFO, RELAYED)
    const accomplice = new ClientHandshake(KEY, 'worker-1', CLIENT_INFO)
    const { welcome } = host.verify(wire(accomplice.respond(wire(host.challenge()), RELAYED)))
    expect(failure(() => worker.verify(wire(welcome))).reason).toBe('auth')
  })

  test('the proofs are length-prefixed: a relay cannot move bytes from the client id into the view', () => {
    // Unprefixed, client id "xa" with view "b" and client id "x" with view "ab" hash alike.
    const host = new HostHandshake(KEY, HOST_INFO, 'ab')
    const challenge = wire(host.challenge()) as unknown[]
    challenge[3] = 'b'
    const response = wire(new ClientHandshake(KEY, 'xa', CLIENT_INFO).respond(challenge, 'b')) as unknown[]
    response[2] = 'x'
    expect(failure(() => host.verify(response)).reason).toBe('auth')
  })
})
