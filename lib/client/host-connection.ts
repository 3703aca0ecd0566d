import { connect, type Socket } from 'node:net'
import {
  errorFromWire, SharedStateAuthError, SharedStateHostLostError, SharedStatePortTakenError,
  SharedStateProtocolError
} from '../errors'
import { describeEndpoint, type Endpoint } from '../options'
import { ClientHandshake, HandshakeError, type PeerInfo } from '../protocol/auth'
import { MessageChannel } from '../protocol/channel'
import { OPS, PUSH_ID, REPLY_OK } from '../protocol/messages'
import { PendingCalls } from './pending-calls'

export interface ConnectionSettings {
  endpoint: Endpoint
  key: Buffer
  maxFrameBytes: number
  /** Default per-call timeout, ms. */
  timeout: number
  clientId: string
  info: PeerInfo
}

export type PushListener = (message: unknown[]) => void

type Phase = 'connecting' | 'challenged' | 'ready' | 'closed'

/**
 * A worker's authenticated link to the host: pipelined calls matched to replies by id, pushes
 * routed to a listener, and every pending call rejected with HOST_LOST the moment the link drops.
 */
export class HostConnection {
  readonly hostInfo: PeerInfo
  readonly #channel: MessageChannel
  readonly #pending: PendingCalls
  readonly #timeout: number
  #nextId = 1
  /** Where pushed messages (change events) go. */
  onPush: PushListener = () => {}
  /** Called once if the link drops without close() having been called. */
  onLost: (error: Error) => void = () => {}
  #closing = false

  private constructor (channel: MessageChannel, settings: ConnectionSettings, hostInfo: PeerInfo) {
    this.#channel = channel
    this.#timeout = settings.timeout
    this.#pending = new PendingCalls(Math.max(5, Math.min(100, settings.timeout / 10)))
    this.hostInfo = hostInfo
  }

  /**
   * Connects and authenticates. Rejects with the socket's own error when nobody listens (the caller
   * may then try to become host), PORT_TAKEN when the listener does not speak the protocol, AUTH
   * when either side's key is wrong.
   */
  static open (settings: ConnectionSettings, deadline: number): Promise<HostConnection> {
    return new Promise((resolve, reject) => {
      const where = describeEndpoint(settings.endpoint)
      const socket: Socket = settings.endpoint.kind === 'unix'
        ? connect(settings.endpoint.path)
        : connect(settings.endpoint.port, settings.endpoint.host)
      const handshake = new ClientHandshake(settings.key, settings.clientId, settings.info)
      let phase: Phase = 'connecting'
      let connection: HostConnection | undefined
      const timer = setTimeout(() => fail(new SharedStatePortTakenError(`${where} (no greeting within the connect timeout)`)),
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
              channel.send(handshake.respond(message))
              phase = 'challenged'
              return
            }
            const hostInfo = handshake.verify(message)
            clearTimeout(timer)
            phase = 'ready'
            channel.raiseFrameLimit(settings.maxFrameBytes)
            connection = new HostConnection(channel, settings, hostInfo)
            resolve(connection)
          } catch (error) {
            fail(handshakeFailure(error, where))
          }
        },
        violation: (error) => {
          if (connection !== undefined) return connection.onLost(new SharedStateProtocolError(`bad frame from the host at ${where}`, { cause: error }))
          fail(new SharedStatePortTakenError(`${where} (it sent bytes that are not the shared-state protocol)`, { cause: error }))
        },
        close: (error) => {
          if (connection !== undefined) return connection.#lost(error)
          if (phase === 'challenged') {
            // The host closes without a word when our proof is wrong: the key differs.
            fail(new SharedStateAuthError(`the host at ${where} refused this worker's key`))
          } else if (error !== undefined && 'code' in error) {
            fail(error)
          } else {
            fail(new SharedStatePortTakenError(`${where} (it closed the connection without a greeting)`))
          }
        }
      })
      socket.setNoDelay(true)
    })
  }

  get pendingCalls (): number {
    return this.#pending.size
  }

  /** Sends `op` with `args`; resolves with the host's result. */
  call (op: number, args: unknown[], timeout = this.#timeout): Promise<unknown> {
    if (this.#channel.closed) {
      return Promise.reject(new SharedStateHostLostError('the connection to the host is closed'))
    }
    const id = this.#nextId++
    return new Promise((resolve, reject) => {
      this.#pending.add(id, OPS[op]?.name ?? String(op), timeout, resolve, reject)
      this.#channel.send([id, op, ...args])
    })
  }

  /** Closes the link; calls still pending reject with HOST_LOST. */
  close (): void {
    this.#closing = true
    this.#channel.end()
    this.#pending.rejectAll(new SharedStateHostLostError('this worker closed its connection'))
  }

  /** Test hook: drops the link as a network fault would, without telling the host first. */
  destroy (): void {
    this.#channel.destroy()
  }

  #receive (message: unknown): void {
    if (!Array.isArray(message) || typeof message[0] !== 'number') {
      this.onLost(new SharedStateProtocolError('malformed message from the host'))
      return this.#channel.destroy()
    }
    if (message[0] === PUSH_ID) return this.onPush(message)
    const call = this.#pending.take(message[0])
    if (call === undefined) return
    if (message[1] === REPLY_OK) call.resolve(message[2])
    else call.reject(errorFromWire(message[2], message[3]))
  }

  #lost (error: Error | undefined): void {
    const lost = new SharedStateHostLostError('the connection to the host closed', { cause: error })
    this.#pending.rejectAll(lost)
    if (!this.#closing) this.onLost(lost)
  }
}

function handshakeFailure (error: unknown, where: string): Error {
  if (!(error instanceof HandshakeError)) return error as Error
  if (error.reason === 'auth') return new SharedStateAuthError(`${error.message} (${where})`)
  if (error.reason === 'version') return new SharedStateProtocolError(error.message)
  return new SharedStatePortTakenError(`${where} (${error.message})`)
}
