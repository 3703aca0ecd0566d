import type { Duplex } from 'node:stream'
import { Decoder, Encoder } from '@msgpack/msgpack'
import { SharedStateFrameTooLargeError, SharedStateProtocolError } from '../errors'
import { FrameDecoder, HANDSHAKE_FRAME_BYTES, HEADER_BYTES } from './framing'

const INITIAL_BATCH_BYTES = 2048
// Messages of one read handed to readAhead at a time: enough for their memory reads to overlap,
// few enough that what was read ahead is still in cache when the message is handled.
const READ_AHEAD_MESSAGES = 32

/**
 * Reads the frames it knows without the general MessagePack decoder, giving exactly what that
 * decoder would; undefined for any other frame, which then goes to the general decoder.
 */
export type FastFrameReader = (frame: Buffer) => unknown

export interface ChannelHandlers {
  /** One decoded message. */
  message: (message: unknown) => void
  /**
   * The next few messages of a read that holds more than one, before `message` is called with
   * each: the host looks up their keys' memory ahead, so the cache misses of a batch overlap.
   */
  readAhead?: (messages: readonly unknown[]) => void
  /** The peer broke the framing or sent bytes that are not MessagePack; the channel is closed. */
  violation: (error: Error) => void
  /** The stream ended, for whatever reason; called once. */
  close: (error: Error | undefined) => void
}

/**
 * Messages over a byte stream: frames in, messages out, on both host and client. Everything sent
 * during one turn of the event loop leaves in one write, because a write per frame costs five
 * times the throughput (see the benchmarks). The flush runs on setImmediate, once the poll phase
 * has run the callbacks of every socket that was readable: a worker serving 25 HTTP requests that
 * arrived together sends their 25 calls in one write, where a flush on process.nextTick would
 * write once per request (the HTTP counter route gains about 12%). A lone awaited call loses
 * nothing: the check phase follows the poll phase in the same turn.
 */
export class MessageChannel {
  readonly #stream: Duplex
  readonly #frames = new FrameDecoder(HANDSHAKE_FRAME_BYTES)
  readonly #encoder = new Encoder()
  readonly #decoder = new Decoder()
  readonly #handlers: ChannelHandlers
  readonly #readFast: FastFrameReader | undefined
  #batch: Buffer | undefined
  #batchBytes = 0
  #flushQueued = false
  readonly #flushNow = (): void => this.flush()
  #closed = false
  /** The peer refuses larger frames; one is refused here instead of costing the connection. */
  #sendLimit = HANDSHAKE_FRAME_BYTES

  constructor (stream: Duplex, handlers: ChannelHandlers, readFast?: FastFrameReader) {
    this.#stream = stream
    this.#handlers = handlers
    this.#readFast = readFast
    stream.on('data', (chunk: Buffer) => this.#receive(chunk))
    stream.on('error', (error) => this.#end(error))
    stream.on('close', () => this.#end(undefined))
  }

  get closed (): boolean {
    return this.#closed
  }

  /** Bytes accepted by the stream and not yet sent: a measure of how far behind the peer is. */
  get backlog (): number {
    return this.#stream.writableLength + this.#batchBytes
  }

  /** Raised once, from the handshake limit to `maxFrameBytes`, after authentication. */
  raiseFrameLimit (bytes: number): void {
    this.#sendLimit = bytes
    this.#frames.setFrameLimit(bytes)
  }

  /** Queues `message`; throws FRAME_TOO_LARGE, sending nothing, when the peer would refuse it. */
  send (message: unknown): void {
    if (this.#closed) return
    const body = this.#encoder.encodeSharedRef(message)
    if (body.length > this.#sendLimit) throw new SharedStateFrameTooLargeError(body.length, this.#sendLimit)
    const needed = this.#batchBytes + HEADER_BYTES + body.length
    if (this.#batch === undefined || this.#batch.length < needed) this.#grow(needed)
    const batch = this.#batch as Buffer
    batch.writeUInt32BE(body.length, this.#batchBytes)
    batch.set(body, this.#batchBytes + HEADER_BYTES)
    this.#batchBytes = needed
    if (!this.#flushQueued) {
      this.#flushQueued = true
      setImmediate(this.#flushNow)
    }
  }

  /** Writes what is queued now; normally left to the end of the turn. */
  flush (): void {
    this.#flushQueued = false
    if (this.#batch === undefined || this.#closed) return
    // The stream keeps the buffer until it is written, so the next batch starts in a new one.
    this.#stream.write(this.#batch.subarray(0, this.#batchBytes))
    this.#batch = undefined
    this.#batchBytes = 0
  }

  /** Sends what is queued, then ends the stream. */
  end (): void {
    this.flush()
    this.#stream.end()
  }

  /** Closes at once, dropping anything queued. */
  destroy (error?: Error): void {
    this.#batch = undefined
    this.#batchBytes = 0
    this.#stream.destroy(error)
  }

  #grow (needed: number): void {
    const next = Buffer.allocUnsafe(Math.max(needed, INITIAL_BATCH_BYTES, (this.#batch?.length ?? 0) * 2))
    if (this.#batch !== undefined) this.#batch.copy(next, 0, 0, this.#batchBytes)
    this.#batch = next
  }

  #receive (chunk: Buffer): void {
    let frames: Buffer[]
    try {
      frames = this.#frames.push(chunk)
    } catch (error) {
      return this.#violate(error as Error)
    }
    if (frames.length > 1 && this.#handlers.readAhead !== undefined) return this.#receiveAhead(frames)
    for (const frame of frames) {
      if (this.#closed) return
      let message: unknown
      try {
        message = this.#readFast?.(frame) ?? this.#decoder.decode(frame)
      } catch (error) {
        return this.#violate(new SharedStateProtocolError('undecodable frame', { cause: error }))
      }
      this.#handlers.message(message)
    }
  }

  /**
   * As #receive, a few messages at a time decoded first and shown to readAhead. The messages
   * before an undecodable frame are still handled, then the channel closes, as frame by frame.
   */
  #receiveAhead (frames: Buffer[]): void {
    const readAhead = this.#handlers.readAhead as (messages: readonly unknown[]) => void
    const messages: unknown[] = []
    for (let next = 0; next < frames.length;) {
      messages.length = 0
      let failure: unknown
      for (; next < frames.length && messages.length < READ_AHEAD_MESSAGES; next++) {
        const frame = frames[next] as Buffer
        try {
          messages.push(this.#readFast?.(frame) ?? this.#decoder.decode(frame))
        } catch (error) {
          failure = error
          next = frames.length
        }
      }
      if (this.#closed) return
      readAhead(messages)
      for (const message of messages) {
        if (this.#closed) return
        this.#handlers.message(message)
      }
      if (failure !== undefined) return this.#violate(new SharedStateProtocolError('undecodable frame', { cause: failure }))
    }
  }

  #violate (error: Error): void {
    if (this.#closed) return
    this.#handlers.violation(error)
    this.destroy()
  }

  #end (error: Error | undefined): void {
    if (this.#closed) return
    this.#closed = true
    this.#batch = undefined
    this.#handlers.close(error)
  }
}
