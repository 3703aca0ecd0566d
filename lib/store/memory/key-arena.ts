// Records are cut from chunks of this many bytes, allocated as needed; a record larger than a
// chunk gets a chunk of its own size. A chunk is one external allocation, not a heap object per
// key, so the garbage collector never walks the keys.
const CHUNK_BYTES = 1 << 20
// Records start at multiples of 4 bytes, so a 32-bit handle (chunk, offset / 4) reaches 16 GiB.
const UNIT_SHIFT = 2
const UNIT_MASK = (1 << UNIT_SHIFT) - 1
const OFFSET_UNITS = CHUNK_BYTES >>> UNIT_SHIFT
const MAX_CHUNKS = 2 ** 32 / OFFSET_UNITS
// u32 slot, u32 key length in code units * 2 + 1 when they are UTF-16, u16 value bytes.
const HEADER_BYTES = 10
/** The most value bytes a record holds. */
export const MAX_RECORD_VALUE = 0xffff
// Records moved out of chunks being compacted, per record written: more than one, so compaction
// outpaces the garbage writes make.
const MOVES_PER_WRITE = 4

/** Whose records these are: the slot that holds a record, and where it moved. */
export interface ArenaOwner {
  /** The handle slot `slot` holds, or -1 when the slot is free. */
  handleOf: (slot: number) => number
  moved: (slot: number, handle: number) => void
}

/** True when every code unit of `key` fits in a byte. */
function isNarrow (key: string): boolean {
  for (let i = 0; i < key.length; i++) if (key.charCodeAt(i) > 0xff) return false
  return true
}

function align (bytes: number): number {
  return (bytes + UNIT_MASK) & ~UNIT_MASK
}

/**
 * Records of a key and a small value, in ArrayBuffer chunks, each found by a numeric handle. A
 * record holds the slot that owns it, the key (one byte per code unit when every unit is below
 * 256, else two) and up to MAX_RECORD_VALUE value bytes. A freed record's bytes are counted dead
 * in their chunk; a chunk that is mostly dead is compacted a few records per write (its live
 * records move to the newest chunk and their slots learn the new handles), then released.
 */
export class KeyArena {
  readonly #owner: ArenaOwner
  readonly #chunks: Array<Buffer | undefined> = []
  readonly #used: number[] = []
  readonly #dead: number[] = []
  readonly #releasedChunks: number[] = []
  #current = -1
  /** Chunks to compact, oldest first, and how far into the first one compaction is. */
  readonly #compacting: number[] = []
  #cursor = 0

  constructor (owner: ArenaOwner) {
    this.#owner = owner
  }

  /** Bytes held in chunks, live and dead. */
  get bytes (): number {
    let total = 0
    for (const chunk of this.#chunks) total += chunk?.length ?? 0
    return total
  }

  /** A new record for `slot` and `key` with room for `valueLength` value bytes (left unwritten). */
  create (slot: number, key: string, valueLength: number): number {
    const narrow = isNarrow(key)
    const keyBytes = narrow ? key.length : 2 * key.length
    const handle = this.#allocate(HEADER_BYTES + keyBytes + valueLength)
    const buffer = this.buffer(handle)
    const start = this.offset(handle)
    this.#writeHeader(buffer, start, slot, key.length * 2 + (narrow ? 0 : 1), valueLength)
    buffer.write(key, start + HEADER_BYTES, narrow ? 'latin1' : 'utf16le')
    this.#compactSome()
    return handle
  }

  /** A new record with the slot and key of `handle` and room for `valueLength` bytes; `handle` is freed. */
  resize (handle: number, valueLength: number): number {
    const keyBytes = this.#keyBytes(handle)
    const moved = this.#allocate(HEADER_BYTES + keyBytes + valueLength)
    const source = this.buffer(handle)
    const from = this.offset(handle)
    const target = this.buffer(moved)
    const to = this.offset(moved)
    source.copy(target, to, from, from + HEADER_BYTES + keyBytes)
    target.writeUInt16LE(valueLength, to + 8)
    this.free(handle)
    this.#compactSome()
    return moved
  }

  /** Counts the record's bytes dead; a chunk with nothing live left is released at once. */
  free (handle: number): void {
    const chunk = Math.floor(handle / OFFSET_UNITS)
    const dead = (this.#dead[chunk] as number) + align(this.recordBytes(handle))
    this.#dead[chunk] = dead
    if (chunk === this.#current) return
    const used = this.#used[chunk] as number
    if (dead === used) this.#release(chunk)
    else if (dead * 2 > used && !this.#compacting.includes(chunk)) this.#compacting.push(chunk)
  }

  /** The chunk a record is in (valid until the next write to the arena). */
  buffer (handle: number): Buffer {
    return this.#chunks[Math.floor(handle / OFFSET_UNITS)] as Buffer
  }

  /** Where the record starts in its chunk. */
  offset (handle: number): number {
    return (handle % OFFSET_UNITS) << UNIT_SHIFT
  }

  valueOffset (handle: number): number {
    return this.offset(handle) + HEADER_BYTES + this.#keyBytes(handle)
  }

  valueLength (handle: number): number {
    return this.buffer(handle).readUInt16LE(this.offset(handle) + 8)
  }

  recordBytes (handle: number): number {
    return HEADER_BYTES + this.#keyBytes(handle) + this.valueLength(handle)
  }

  /** The key's length in code units. */
  keyLength (handle: number): number {
    return this.buffer(handle).readUInt32LE(this.offset(handle) + 4) >>> 1
  }

  /** True when the key is kept one byte per code unit. */
  isNarrowKey (handle: number): boolean {
    return (this.buffer(handle).readUInt32LE(this.offset(handle) + 4) & 1) === 0
  }

  /** Where the key's bytes start in the record's chunk. */
  keyOffset (handle: number): number {
    return this.offset(handle) + HEADER_BYTES
  }

  key (handle: number): string {
    const buffer = this.buffer(handle)
    const start = this.offset(handle) + HEADER_BYTES
    return this.isNarrowKey(handle)
      ? buffer.toString('latin1', start, start + this.keyLength(handle))
      : buffer.toString('utf16le', start, start + 2 * this.keyLength(handle))
  }

  /** The record's key against `key`, by UTF-16 code unit: negative, 0 or positive. */
  compareKey (handle: number, key: string): number {
    const buffer = this.buffer(handle)
    const start = this.offset(handle) + HEADER_BYTES
    const length = this.keyLength(handle)
    const common = Math.min(length, key.length)
    if (this.isNarrowKey(handle)) {
      for (let i = 0; i < common; i++) {
        const difference = (buffer[start + i] as number) - key.charCodeAt(i)
        if (difference !== 0) return difference
      }
    } else {
      for (let i = 0; i < common; i++) {
        const unit = (buffer[start + 2 * i] as number) | ((buffer[start + 2 * i + 1] as number) << 8)
        const difference = unit - key.charCodeAt(i)
        if (difference !== 0) return difference
      }
    }
    return length - key.length
  }

  keyEquals (handle: number, key: string): boolean {
    return this.keyLength(handle) === key.length && this.compareKey(handle, key) === 0
  }

  keyStartsWith (handle: number, prefix: string): boolean {
    if (this.keyLength(handle) < prefix.length) return false
    const buffer = this.buffer(handle)
    const start = this.offset(handle) + HEADER_BYTES
    if (this.isNarrowKey(handle)) {
      for (let i = 0; i < prefix.length; i++) if (buffer[start + i] !== prefix.charCodeAt(i)) return false
    } else {
      for (let i = 0; i < prefix.length; i++) {
        if (((buffer[start + 2 * i] as number) | ((buffer[start + 2 * i + 1] as number) << 8)) !== prefix.charCodeAt(i)) return false
      }
    }
    return true
  }

  #keyBytes (handle: number): number {
    const meta = this.buffer(handle).readUInt32LE(this.offset(handle) + 4)
    return (meta >>> 1) << (meta & 1)
  }

  #writeHeader (buffer: Buffer, start: number, slot: number, meta: number, valueLength: number): void {
    buffer.writeUInt32LE(slot, start)
    buffer.writeUInt32LE(meta, start + 4)
    buffer.writeUInt16LE(valueLength, start + 8)
  }

  #allocate (bytes: number): number {
    const size = align(bytes)
    let chunk = this.#current
    if (chunk < 0 || (this.#used[chunk] as number) + size > CHUNK_BYTES) chunk = this.#newChunk(size)
    const offset = this.#used[chunk] as number
    this.#used[chunk] = offset + size
    return chunk * OFFSET_UNITS + (offset >>> UNIT_SHIFT)
  }

  /** A fresh chunk for a record of `size` bytes: the next current one, or its own when oversized. */
  #newChunk (size: number): number {
    const chunk = this.#releasedChunks.pop() ?? this.#chunks.length
    if (chunk >= MAX_CHUNKS) throw new RangeError('the map holds more key bytes than its handles reach')
    this.#chunks[chunk] = Buffer.allocUnsafeSlow(Math.max(CHUNK_BYTES, size))
    this.#used[chunk] = 0
    this.#dead[chunk] = 0
    if (size > CHUNK_BYTES) return chunk
    const previous = this.#current
    this.#current = chunk
    // The chunk that was current is a chunk like any other now: freed already, or due for compaction.
    if (previous >= 0 && this.#chunks[previous] !== undefined) {
      const dead = this.#dead[previous] as number
      const used = this.#used[previous] as number
      if (dead === used) this.#release(previous)
      else if (dead * 2 > used) this.#compacting.push(previous)
    }
    return chunk
  }

  #release (chunk: number): void {
    this.#chunks[chunk] = undefined
    this.#used[chunk] = 0
    this.#dead[chunk] = 0
    this.#releasedChunks.push(chunk)
    const queued = this.#compacting.indexOf(chunk)
    if (queued === 0) this.#cursor = 0
    if (queued >= 0) this.#compacting.splice(queued, 1)
  }

  /** Moves a few live records out of the oldest chunk being compacted. */
  #compactSome (): void {
    for (let moves = 0; moves < MOVES_PER_WRITE && this.#compacting.length > 0;) {
      const chunk = this.#compacting[0] as number
      const buffer = this.#chunks[chunk] as Buffer
      if (this.#cursor >= (this.#used[chunk] as number)) {
        this.#release(chunk)
        continue
      }
      const handle = chunk * OFFSET_UNITS + (this.#cursor >>> UNIT_SHIFT)
      const bytes = this.recordBytes(handle)
      this.#cursor += align(bytes)
      const slot = buffer.readUInt32LE(this.offset(handle))
      if (this.#owner.handleOf(slot) !== handle) continue
      const moved = this.#allocate(bytes)
      buffer.copy(this.buffer(moved), this.offset(moved), this.offset(handle), this.offset(handle) + bytes)
      this.#dead[chunk] = (this.#dead[chunk] as number) + align(bytes)
      this.#owner.moved(slot, moved)
      moves++
    }
  }
}
