import { SharedStateFrameTooLargeError } from '../errors'

/** Every frame is a 4-byte big-endian length followed by that many bytes of MessagePack. */
export const HEADER_BYTES = 4

/** An unauthenticated peer may send only a frame this small: enough for the handshake. */
export const HANDSHAKE_FRAME_BYTES = 1024

/**
 * Splits a byte stream into frames. Feed it chunks as they arrive, in any sizes; it returns the
 * complete frames. The declared length is checked against the limit before a byte of the body is
 * kept, so a peer announcing 4 GiB costs nothing.
 */
export class FrameDecoder {
  #maxFrameBytes: number
  #pending: Buffer[] = []
  #pendingBytes = 0
  /** Length of the frame being assembled, or -1 while its header is incomplete. */
  #bodyBytes = -1

  constructor (maxFrameBytes: number) {
    this.#maxFrameBytes = maxFrameBytes
  }

  /** The limit changes once: from the handshake size to `maxFrameBytes` after authentication. */
  setFrameLimit (bytes: number): void {
    this.#maxFrameBytes = bytes
  }

  get bufferedBytes (): number {
    return this.#pendingBytes
  }

  /**
   * Returns the frames completed by `chunk`. The returned buffers may share memory with `chunk`;
   * a caller that keeps one beyond the current tick copies it. Throws FRAME_TOO_LARGE.
   */
  push (chunk: Buffer): Buffer[] {
    const frames: Buffer[] = []
    let data = chunk
    if (this.#pendingBytes > 0) {
      this.#pending.push(chunk)
      this.#pendingBytes += chunk.length
      // Joining only once the header or body is complete keeps a frame that arrives in many small
      // chunks linear in its size.
      const needed = this.#bodyBytes < 0 ? HEADER_BYTES : this.#bodyBytes
      if (this.#pendingBytes < needed) return frames
      data = Buffer.concat(this.#pending, this.#pendingBytes)
      this.#pending = []
      this.#pendingBytes = 0
    }
    let offset = 0
    while (true) {
      const available = data.length - offset
      if (this.#bodyBytes < 0) {
        if (available < HEADER_BYTES) break
        const declared = data.readUInt32BE(offset)
        if (declared > this.#maxFrameBytes) {
          throw new SharedStateFrameTooLargeError(declared, this.#maxFrameBytes)
        }
        this.#bodyBytes = declared
        offset += HEADER_BYTES
        continue
      }
      if (available < this.#bodyBytes) break
      frames.push(data.subarray(offset, offset + this.#bodyBytes))
      offset += this.#bodyBytes
      this.#bodyBytes = -1
    }
    if (offset < data.length) {
      const rest = data.subarray(offset)
      this.#pending.push(rest)
      this.#pendingBytes = rest.length
    }
    return frames
  }
}
