import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'

/**
 * Mutual authentication by challenge and response, before any operation:
 *
 *   host   -> client  [MAGIC, VERSION, hostNonce, hostView]
 *   client -> host    [clientNonce, HMAC(key, "client" | hostNonce | clientNonce | clientId | view), clientId, info]
 *   host   -> client  [HMAC(key, "host" | clientNonce | hostNonce | view), info]
 *
 * Both nonces are fresh random bytes per connection, so a recorded exchange replays nowhere. The
 * client proves itself first but over a nonce the host chose, and learns whether the host knows the
 * key before it sends a single operation: a squatter on the port receives nothing of value. The
 * host answers a bad proof by closing the connection, with no text.
 *
 * Each side's proof also covers the connection as that side sees it (connection-view.ts): both
 * TCP endpoints, the unix listener, or the TLS session. A process in the middle that splices a
 * worker's connection to the host holds two connections that look different from each end, so no
 * proof it forwards matches and the session it would relay never starts. The host's view also
 * travels in clear, so that a worker names the mismatch before it answers; a relay that rewrites
 * it changes nothing, since the host checks the proof against its own view.
 */

export const MAGIC = 'fastify-shared-state'
// Version 2: the proofs cover each side's view of the connection, and every part is length-prefixed.
export const PROTOCOL_VERSION = 2
const NONCE_BYTES = 32
const MAX_CLIENT_ID_LENGTH = 64
const MAX_VIEW_LENGTH = 512

/** What each side tells the other once authenticated; shown by stats and the inspect command. */
export interface PeerInfo {
  pid: number
}

/** The handshake failed; `reason` tells the client which error to raise. */
export type HandshakeFailure = 'not-protocol' | 'version' | 'auth' | 'relay'

export class HandshakeError extends Error {
  readonly reason: HandshakeFailure
  constructor (reason: HandshakeFailure, message: string) {
    super(message)
    this.reason = reason
  }
}

/** Each part is length-prefixed, so that no two different lists of parts hash alike. */
function proof (key: Buffer, label: string, ...parts: Array<Uint8Array | string>): Buffer {
  const hmac = createHmac('sha256', key).update(label)
  const length = Buffer.alloc(4)
  for (const part of parts) {
    const bytes = typeof part === 'string' ? Buffer.from(part) : part
    length.writeUInt32BE(bytes.length)
    hmac.update(length).update(bytes)
  }
  return hmac.digest()
}

/** Constant time; the length check comes first because timingSafeEqual throws on a mismatch. */
function proofMatches (expected: Buffer, received: unknown): boolean {
  if (!(received instanceof Uint8Array) || received.length !== expected.length) return false
  return timingSafeEqual(expected, received)
}

function isInfo (value: unknown): value is PeerInfo {
  return value !== null && typeof value === 'object' && typeof (value as PeerInfo).pid === 'number'
}

/** The host's side: one per incoming connection. */
export class HostHandshake {
  readonly #key: Buffer
  readonly #nonce = randomBytes(NONCE_BYTES)
  readonly #info: PeerInfo
  readonly #view: string

  /** `view`: this connection as the host sees it. */
  constructor (key: Buffer, info: PeerInfo, view: string) {
    this.#key = key
    this.#info = info
    this.#view = view
  }

  challenge (): unknown[] {
    return [MAGIC, PROTOCOL_VERSION, this.#nonce, this.#view]
  }

  /** Checks the client's response; returns the client's identity and the welcome to send back. */
  verify (response: unknown): { clientId: string, info: PeerInfo, welcome: unknown[] } {
    if (!Array.isArray(response) || response.length !== 4) throw new HandshakeError('auth', 'malformed response')
    const [clientNonce, clientProof, clientId, info] = response as unknown[]
    if (!(clientNonce instanceof Uint8Array) || clientNonce.length !== NONCE_BYTES ||
        typeof clientId !== 'string' || clientId.length === 0 || clientId.length > MAX_CLIENT_ID_LENGTH ||
        !isInfo(info)) {
      throw new HandshakeError('auth', 'malformed response')
    }
    const expected = proof(this.#key, 'client', this.#nonce, clientNonce, clientId, this.#view)
    if (!proofMatches(expected, clientProof)) throw new HandshakeError('auth', 'wrong key, or a connection relayed by a third party')
    return {
      clientId,
      info: { pid: info.pid },
      welcome: [proof(this.#key, 'host', clientNonce, this.#nonce, this.#view), this.#info]
    }
  }
}

/** The client's side: one per connection attempt. */
export class ClientHandshake {
  readonly #key: Buffer
  readonly #nonce = randomBytes(NONCE_BYTES)
  readonly #clientId: string
  readonly #info: PeerInfo
  #hostNonce: Uint8Array | undefined
  #view = ''

  constructor (key: Buffer, clientId: string, info: PeerInfo) {
    this.#key = key
    this.#clientId = clientId
    this.#info = info
  }

  /**
   * Answers the host's challenge, over `view`: this connection as the worker sees it. Anything but
   * our protocol's greeting means a stranger holds the port; a host that sees another connection
   * than ours means something in between relays it, and the worker sends nothing more.
   */
  respond (challenge: unknown, view: string): unknown[] {
    if (!Array.isArray(challenge) || challenge[0] !== MAGIC) {
      throw new HandshakeError('not-protocol', 'the peer did not greet with the shared-state protocol')
    }
    if (challenge[1] !== PROTOCOL_VERSION) {
      throw new HandshakeError('version', `the host speaks protocol version ${String(challenge[1])}, this worker ${PROTOCOL_VERSION}`)
    }
    const hostNonce = challenge[2]
    const hostView = challenge[3]
    if (!(hostNonce instanceof Uint8Array) || hostNonce.length !== NONCE_BYTES ||
        typeof hostView !== 'string' || hostView.length > MAX_VIEW_LENGTH) {
      throw new HandshakeError('not-protocol', 'malformed challenge')
    }
    if (hostView !== view) {
      throw new HandshakeError('relay', `the host sees this connection as "${hostView}", this worker as "${view}": something in between relays it`)
    }
    this.#hostNonce = hostNonce
    this.#view = view
    return [this.#nonce, proof(this.#key, 'client', hostNonce, this.#nonce, this.#clientId, view), this.#clientId, this.#info]
  }

  /** Checks that the host knows the key too; returns what it told about itself. */
  verify (welcome: unknown): PeerInfo {
    if (this.#hostNonce === undefined) throw new HandshakeError('not-protocol', 'welcome before challenge')
    if (!Array.isArray(welcome) || welcome.length !== 2 || !isInfo(welcome[1])) {
      throw new HandshakeError('not-protocol', 'malformed welcome')
    }
    const expected = proof(this.#key, 'host', this.#nonce, this.#hostNonce, this.#view)
    if (!proofMatches(expected, welcome[0])) {
      throw new HandshakeError('auth', 'the host could not prove it knows the key on this very connection')
    }
    return { pid: welcome[1].pid }
  }
}
