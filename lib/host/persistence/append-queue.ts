import { FRAME_HEADER_BYTES, sealFrame, type RecordSink } from './frame'

// Frames are written into chunks of this size (a larger record gets a chunk of its own size): one
// allocation for thousands of records, and, as the log writes at most about this much at once
// under 'everysec' and 'no', a write rarely has to join two chunks into a new buffer.
const CHUNK_BYTES = 256 * 1024

/**
 * Records waiting for the writer chain, numbered in append order: record n is durable once the
 * file holds the first n. Records are written into a chunk, each after the last, inside an open
 * frame: the frame is sealed (its length and checksums filled in) when it is taken for a write,
 * when a compaction marks where its tail begins (`cut`), or when the chunk is full, so a write
 * carries one frame, not a frame per record, and its checksum is one native call over the whole.
 * A byte once taken is never overwritten, so what `take` hands to a write stays as it was while
 * the write runs and later records fill the rest of the chunk.
 */
export class AppendQueue implements RecordSink {
  /** Chunks filled before the current one, each cut to its untaken frames. */
  #filled: Buffer[] = []
  #chunk: Buffer = Buffer.allocUnsafeSlow(CHUNK_BYTES)
  /** The current chunk's bytes from `#taken` to `end` are queued. */
  #taken = 0
  #end = 0
  /** Where the open frame's header is in the current chunk; -1 when no frame is open. */
  #open = -1
  #bytes = 0
  #lastSeq = 0

  /** The number of the last record queued (0 before the first). */
  get lastSeq (): number {
    return this.#lastSeq
  }

  /** Bytes queued, frame headers included. */
  get bytes (): number {
    return this.#bytes
  }

  /** Where the next record starts in the buffer `room` returns. */
  get end (): number {
    return this.#end
  }

  /** The chunk, with at least `bytes` free from `end` inside an open frame. */
  room (bytes: number): Buffer {
    if (this.#open >= 0 && this.#chunk.length - this.#end >= bytes) return this.#chunk
    // A frame never spans chunks: one open in a full chunk is sealed there, the next opens anew.
    this.#space(FRAME_HEADER_BYTES + bytes)
    this.#open = this.#end
    this.#end += FRAME_HEADER_BYTES
    this.#bytes += FRAME_HEADER_BYTES
    return this.#chunk
  }

  /** Queues the record written at `end` of the chunk, up to `recordEnd`. */
  commit (recordEnd: number): void {
    this.#bytes += recordEnd - this.#end
    this.#end = recordEnd
    this.#lastSeq++
  }

  /** Queues a frame of one record made elsewhere (a copy of it), as a frame of its own. */
  pushFrame (frame: Uint8Array): void {
    this.#seal()
    this.#space(frame.length).set(frame, this.#end)
    this.#end += frame.length
    this.#bytes += frame.length
    this.#lastSeq++
  }

  /** Everything queued, as one buffer for one write, and the number of its last record. */
  take (): { batch: Buffer, seq: number } | undefined {
    this.#seal()
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
    this.#open = -1
    this.#taken = this.#end
    this.#bytes = 0
  }

  /** Ends the open frame: the next record starts a frame of its own (where a compaction's tail begins). */
  cut (): void {
    this.#seal()
  }

  /** Seals the open frame; one left empty (a record that was never committed) is dropped. */
  #seal (): void {
    if (this.#open < 0) return
    if (this.#end === this.#open + FRAME_HEADER_BYTES) {
      this.#end = this.#open
      this.#bytes -= FRAME_HEADER_BYTES
    } else {
      sealFrame(this.#chunk, this.#open, this.#end)
    }
    this.#open = -1
  }

  /** The chunk, with at least `bytes` free from `end`; a frame open in a full one is sealed first. */
  #space (bytes: number): Buffer {
    if (this.#chunk.length - this.#end < bytes) this.#newChunk(bytes)
    return this.#chunk
  }

  #newChunk (bytes: number): void {
    this.#seal()
    if (this.#end > this.#taken) this.#filled.push(this.#chunk.subarray(this.#taken, this.#end))
    this.#chunk = Buffer.allocUnsafeSlow(Math.max(CHUNK_BYTES, bytes))
    this.#taken = 0
    this.#end = 0
  }
}
