/**
 * Framed records waiting for the writer chain, numbered in append order: record n is durable
 * once the file holds the first n. While a compaction runs, a copy of each record is also kept
 * for the new file (`capture`), since the snapshot describes only what came before it.
 */
export class AppendQueue {
  #frames: Buffer[] = []
  #bytes = 0
  #lastSeq = 0
  #captured: Buffer[] | undefined

  /** The number of the last record queued (0 before the first). */
  get lastSeq (): number {
    return this.#lastSeq
  }

  get bytes (): number {
    return this.#bytes
  }

  push (frame: Buffer): void {
    this.#frames.push(frame)
    this.#bytes += frame.length
    this.#lastSeq++
    this.#captured?.push(frame)
  }

  /** Everything queued, as one buffer for one write, and the number of its last record. */
  take (): { batch: Buffer, seq: number } | undefined {
    if (this.#frames.length === 0) return undefined
    const batch = this.#frames.length === 1 ? this.#frames[0] as Buffer : Buffer.concat(this.#frames, this.#bytes)
    this.#frames = []
    this.#bytes = 0
    return { batch, seq: this.#lastSeq }
  }

  /** Drops what is queued (the log failed: it will never be written). */
  clear (): void {
    this.#frames = []
    this.#bytes = 0
  }

  /** From now on, every record pushed is also kept in the returned list, until `endCapture`. */
  startCapture (): Buffer[] {
    this.#captured = []
    return this.#captured
  }

  endCapture (): void {
    this.#captured = undefined
  }
}
