import type { FrameSink } from './record-fast-path'

// Frames are written into chunks of this size (a larger frame gets a chunk of its own size): one
// allocation for thousands of records, and, as the log writes at most about this much at once
// under 'everysec' and 'no', a write rarely has to join two chunks into a new buffer.
const CHUNK_BYTES = 256 * 1024

/**
 * Framed records waiting for the writer chain, numbered in append order: record n is durable
 * once the file holds the first n. Records are written into a chunk, each after the last, and a
 * byte once written is never overwritten, so what `take` hands to a write stays as it was while
 * the write runs and later records fill the rest of the chunk. While a compaction runs, each
 * record is also kept for the new file (`capture`), since the snapshot describes only what came
 * before it.
 */
export class AppendQueue implements FrameSink {
  /** Chunks filled before the current one, each cut to its untaken frames. */
  #filled: Buffer[] = []
  #chunk: Buffer = Buffer.allocUnsafeSlow(CHUNK_BYTES)
  /** The current chunk's frames from `#taken` to `end` are queued. */
  #taken = 0
  #end = 0
  #bytes = 0
  #lastSeq = 0
  /**
   * While a compaction runs: the queue's bytes from where it started, as slices of whole chunks
   * (a slice per chunk, not per record: a long compaction under load captures a million records).
   */
  #captured: Buffer[] | undefined
  /** Where the capture starts in the current chunk. */
  #captureFrom = 0

  /** The number of the last record queued (0 before the first). */
  get lastSeq (): number {
    return this.#lastSeq
  }

  get bytes (): number {
    return this.#bytes
  }

  /** Where the next frame starts in the buffer `room` returns. */
  get end (): number {
    return this.#end
  }

  /** The chunk, with at least `bytes` free from `end`: a new one when the current one is full. */
  room (bytes: number): Buffer {
    if (this.#chunk.length - this.#end >= bytes) return this.#chunk
    if (this.#end > this.#taken) this.#filled.push(this.#chunk.subarray(this.#taken, this.#end))
    this.#captureChunk()
    this.#captureFrom = 0
    this.#chunk = Buffer.allocUnsafeSlow(Math.max(CHUNK_BYTES, bytes))
    this.#taken = 0
    this.#end = 0
    return this.#chunk
  }

  /** Queues the frame written at `end` of the chunk, up to `frameEnd`. */
  commit (frameEnd: number): void {
    this.#bytes += frameEnd - this.#end
    this.#end = frameEnd
    this.#lastSeq++
  }

  /** Queues a frame framed elsewhere (a copy of it). */
  push (frame: Uint8Array): void {
    this.room(frame.length).set(frame, this.#end)
    this.commit(this.#end + frame.length)
  }

  /** Everything queued, as one buffer for one write, and the number of its last record. */
  take (): { batch: Buffer, seq: number } | undefined {
    if (this.#bytes === 0) return undefined
    const current = this.#chunk.subarray(this.#taken, this.#end)
    const batch = this.#filled.length === 0 ? current : Buffer.concat([...this.#filled, current], this.#bytes)
    this.#filled = []
    this.#taken = this.#end
    this.#bytes = 0
    return { batch, seq: this.#lastSeq }
  }

  /** Drops what is queued (the log failed: it will never be written). */
  clear (): void {
    this.#filled = []
    this.#taken = this.#end
    this.#bytes = 0
  }

  /** From now on, every record queued is also kept in the returned list (in slices), until `endCapture`. */
  startCapture (): Buffer[] {
    this.#captured = []
    this.#captureFrom = this.#end
    return this.#captured
  }

  /** Ends the capture: the list `startCapture` returned is complete. */
  endCapture (): void {
    this.#captureChunk()
    this.#captured = undefined
  }

  /** Adds what the current chunk holds since the capture started (or since the chunk did). */
  #captureChunk (): void {
    if (this.#captured !== undefined && this.#end > this.#captureFrom) this.#captured.push(this.#chunk.subarray(this.#captureFrom, this.#end))
  }
}
