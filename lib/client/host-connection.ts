import { connect, type Socket } from 'node:net'
import { clientView, socketFileId, unixView } from '../connection-view'
import {
  SharedStateAuthError, SharedStatePortTakenError, SharedStateProtocolError
} from '../errors'
import { describeEndpoint, type Endpoint } from '../options'
import { ClientHandshake, HandshakeError, type PeerInfo } from '../protocol/auth'
import { MessageChannel } from '../protocol/channel'
import { opCode, PUSH_ID } from '../protocol/messages'
import { readSimpleReply } from '../protocol/reply-frame'
import type { TlsTransport } from '../tls-transport'
import type { Transport, TransportEvents } from './transport'

const BYE = opCode('bye')

export interface ConnectionSettings {
  endpoint: Endpoint
  key: Buffer
  maxFrameBytes: number
  clientId: string
  info: PeerInfo
  /** Set when the manager socket speaks TLS (the `tls` option). */
  tls: TlsTransport | undefined
  /** Told when a way to the host is refused and another is tried (a relay on the local socket). */
  warn?: (message: string, error?: Error) => void
}

/**
 * Connects; for a unix socket file, also returns the file's identity as it was just before, which
 * the worker's view of the connection compares with the one after (connection-view.ts).
 */
function dial (endpoint: Endpoint, tls: TlsTransport | undefined): { socket: Socket, fileBefore: string | undefined } {
  let socket: Socket
  let fileBefore: string | undefined
  if (endpoint.kind === 'unix') {
    fileBefore = socketFileId(endpoint.path)
    socket = connect(endpoint.path)
  } else {
    socket = connect(endpoint.port, endpoint.host)
  }
  return { socket: tls === undefined ? socket : tls.connect(socket), fileBefore }
}

/** This worker's view of its connection, taken when the challenge arrives (after connecting). */
function viewOf (socket: Socket, endpoint: Endpoint, fileBefore: string | undefined): string {
  if (endpoint.kind !== 'unix') return clientView(socket, undefined)
  const fileAfter = socketFileId(endpoint.path)
  if (fileAfter !== fileBefore) {
    // Which of the two files this connection reached is unknown. Usually a rival removed a stale
    // file and bound its own; the election looks again (nothing has been sent yet).
    throw Object.assign(new SharedStateAuthError(`the socket file ${endpoint.path} was replaced while this worker connected`),
      { fileReplaced: true })
  }
  return clientView(socket, unixView(endpoint.path, fileAfter))
}

type Phase = 'connecting' | 'challenged' | 'ready' | 'closed'

/**
 * A worker's authenticated socket to the host: requests out, replies and pushes in. It keeps no
 * calls of its own; HostLink does, so that what one connection leaves unanswered can be sent
 * again on the next.
 */
export class HostConnection implements Transport {
  readonly hostInfo: PeerInfo
  readonly #channel: MessageChannel
  #closing = false
  #events: TransportEvents | undefined

  private constructor (channel: MessageChannel, hostInfo: PeerInfo) {
    this.#channel = channel
    this.hostInfo = hostInfo
  }

  /**
   * Connects and authenticates. Rejects with the socket's own error when nobody listens (the caller
   * may then try to become host), PORT_TAKEN when the listener does not speak the protocol, AUTH
   * when either side's key is wrong.
   */
  static open (settings: ConnectionSettings, deadline: number, events: TransportEvents): Promise<HostConnection> {
    return new Promise((resolve, reject) => {
      const where = describeEndpoint(settings.endpoint)
      const { socket, fileBefore } = dial(settings.endpoint, settings.tls)
      const handshake = new ClientHandshake(settings.key, settings.clientId, settings.info)
      let phase: Phase = 'connecting'
      let connection: HostConnection | undefined
      // A host with tls says nothing until a TLS handshake: a worker without tls waits in vain.
      const silence = settings.tls === undefined ? '; a host with "tls" greets only after a TLS handshake' : ''
      const timer = setTimeout(() => fail(new SharedStatePortTakenError(`${where} (no greeting within the connect timeout${silence})`)),
        Math.max(1, deadline - Date.now()))

      function fail (error: Error): void {
        if (phase === 'closed') return
        phase = 'closed'
        clearTimeout(timer)
        channel.destroy()
        reject(error)
      }

      const channel = new MessageChannel(socket, {
        message: (message) => {
          if (connection !== undefined) return connection.#receive(message)
          try {
            if (phase === 'connecting') {
              channel.send(handshake.respond(message, viewOf(socket, settings.endpoint, fileBefore)))
              phase = 'challenged'
              return
            }
            const hostInfo = handshake.verify(message)
            clearTimeout(timer)
            phase = 'ready'
            channel.raiseFrameLimit(settings.maxFrameBytes)
            connection = new HostConnection(channel, hostInfo)
            connection.#events = events
            resolve(connection)
          } catch (error) {
            fail(handshakeFailure(error, where))
          }
        },
        violation: (error) => {
          if (connection !== undefined) return connection.#lost(new SharedStateProtocolError(`bad frame from the host at ${where}`, { cause: error }))
          fail(new SharedStatePortTakenError(`${where} (it sent bytes that are not the shared-state protocol)`, { cause: error }))
        },
        close: (error) => {
          if (connection !== undefined) return connection.#lost(error)
          if (phase === 'challenged') {
            // The host closes without a word when our proof is wrong: the key differs. A host that
            // was closing anyway looks the same, so the election tries once more before it believes it.
            fail(Object.assign(new SharedStateAuthError(`the host at ${where} refused this worker's key`), { closedAfterProof: true }))
          } else if (settings.tls !== undefined && isTlsFailure(error)) {
            fail(new SharedStateAuthError(`TLS with the host at ${where} failed: another key or certificate, or a host without "tls"`, { cause: error }))
          } else if (error !== undefined && 'code' in error) {
            fail(error)
          } else {
            fail(new SharedStatePortTakenError(`${where} (it closed the connection without a greeting)`))
          }
        }
      }, readSimpleReply)
      socket.setNoDelay(true)
    })
  }

  send (id: number, op: number, args: unknown[]): void {
    this.#channel.send([id, op, ...args])
  }

  close (): void {
    if (this.#closing) return
    this.#closing = true
    // An id no call ever reaches: nobody waits for the answer to a goodbye.
    this.#channel.send([Number.MAX_SAFE_INTEGER, BYE])
    this.#channel.end()
  }

  /**
   * Sends what is queued, then drops the link as a network fault would, without a goodbye. Tests
   * use it to lose a reply: the host receives and applies the request, and answers a closed socket.
   */
  cut (): void {
    this.#channel.flush()
    this.#channel.destroy()
  }

  #receive (message: unknown): void {
    const events = this.#events as TransportEvents
    if (!Array.isArray(message) || typeof message[0] !== 'number') {
      events.lost(new SharedStateProtocolError('malformed message from the host'))
      return this.#channel.destroy()
    }
    if (message[0] === PUSH_ID) return events.push(message)
    events.reply(message[0], message[1] as number, message[2], message[3])
  }

  #lost (error: Error | undefined): void {
    if (this.#closing) return
    this.#closing = true
    const events = this.#events as TransportEvents
    events.lost(error ?? new Error('the connection to the host closed'))
  }
}

/**
 * A failed TLS handshake: OpenSSL's errors (ERR_SSL_*), Node's (ERR_TLS_*), and certificate
 * verdicts (SELF_SIGNED_CERT_IN_CHAIN...), which unlike a socket's errors name no system call.
 */
function isTlsFailure (error: Error | undefined): boolean {
  const { code, syscall } = (error ?? {}) as NodeJS.ErrnoException
  return code !== undefined && (code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_') || syscall === undefined)
}

function handshakeFailure (error: unknown, where: string): Error {
  if (!(error instanceof HandshakeError)) return error as Error
  if (error.reason === 'auth' || error.reason === 'relay') return new SharedStateAuthError(`${error.message} (${where})`)
  if (error.reason === 'version') return new SharedStateProtocolError(error.message)
  return new SharedStatePortTakenError(`${where} (${error.message})`)
}
