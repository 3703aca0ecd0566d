import { randomBytes } from 'node:crypto'
import { open, readdir, rename, unlink, type FileHandle } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { encodeFileHeader, FILE_HEADER_BYTES } from './record-format'
import { writeAll } from './file-io'

// The tail copied after a snapshot is read and written this much at a time.
const COPY_BYTES = 4 * 1024 * 1024

/**
 * A snapshot being written next to the log, in the same directory so the rename that replaces
 * the log is atomic. Named after the log and the writing process, so a later open can remove
 * what a crashed compaction left behind.
 */
export class SnapshotFile {
  readonly path: string
  readonly handle: FileHandle
  /** Bytes in the file: header, snapshot, and whatever `append` added. */
  size: number
  /** True once the file is the log: from then on it is the log's to close, never to discard. */
  renamed = false

  private constructor (path: string, handle: FileHandle, size: number) {
    this.path = path
    this.handle = handle
    this.size = size
  }

  /** Creates the file; the snapshot section follows a part at a time (`appendPart`), off the log's writer chain. */
  static async create (file: string, mode: number): Promise<SnapshotFile> {
    const path = `${file}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`
    // Readable too: once renamed it is the log, whose tail the next compaction reads back.
    const handle = await open(path, 'wx+', mode)
    return new SnapshotFile(path, handle, FILE_HEADER_BYTES)
  }

  /** Adds a part of the snapshot section: a large snapshot is never held, or joined, whole. */
  async appendPart (records: Buffer): Promise<void> {
    await writeAll(this.handle, records, this.size)
    this.size += records.length
  }

  /** Writes the header, now that the snapshot section's length is known, and fsyncs the file. */
  async endSnapshot (): Promise<number> {
    const snapshotBytes = this.size - FILE_HEADER_BYTES
    await writeAll(this.handle, encodeFileHeader(snapshotBytes), 0)
    await this.handle.sync()
    return snapshotBytes
  }

  /**
   * Adds the records appended to the log while the snapshot was written, bytes `from` to `to` of
   * the log (`source`), and fsyncs them. They are read back from the log a few MiB at a time
   * (from the page cache, as a rule), so however long the compaction took, its tail is never held
   * in memory.
   */
  async copyTail (source: FileHandle, from: number, to: number): Promise<number> {
    const buffer = Buffer.allocUnsafe(Math.min(COPY_BYTES, Math.max(0, to - from)))
    for (let at = from; at < to;) {
      const { bytesRead } = await source.read(buffer, 0, Math.min(buffer.length, to - at), at)
      if (bytesRead === 0) throw new Error(`the log ended at byte ${at}, before the ${to} it was written to`)
      await writeAll(this.handle, buffer.subarray(0, bytesRead), this.size)
      this.size += bytesRead
      at += bytesRead
    }
    await this.handle.datasync()
    return to - from
  }

  /** Renames the snapshot over the log; the caller then fsyncs the directory. */
  async replace (file: string): Promise<void> {
    await rename(this.path, file)
    this.renamed = true
  }

  async discard (): Promise<void> {
    await this.handle.close().catch(() => {})
    await unlink(this.path).catch(() => {})
  }
}

/** Removes snapshots that compactions of `file`, in processes that have since died, left behind. */
export async function removeAbandonedSnapshots (file: string): Promise<void> {
  const prefix = `${basename(file)}.`
  let names: string[]
  try {
    names = await readdir(dirname(file))
  } catch {
    return
  }
  for (const name of names) {
    if (!name.startsWith(prefix)) continue
    const match = /^(\d+)-[0-9a-f]{8}\.tmp$/.exec(name.slice(prefix.length))
    if (match === null || isAlive(Number(match[1]))) continue
    await unlink(join(dirname(file), name)).catch(() => {})
  }
}

function isAlive (pid: number): boolean {
  if (pid === process.pid) return true
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}
