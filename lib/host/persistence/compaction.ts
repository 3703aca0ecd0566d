import { randomBytes } from 'node:crypto'
import { open, readdir, rename, unlink, type FileHandle } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { encodeFileHeader, FILE_HEADER_BYTES } from './record-format'
import { writeAll } from './file-io'

// The tail copied after a snapshot goes out in writes of about this size.
const APPEND_BATCH_BYTES = 4 * 1024 * 1024

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
    const handle = await open(path, 'wx', mode)
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
   * Adds the records appended to the log while the snapshot was written, and fsyncs them. They
   * are joined a few MiB at a time, so a long tail is not copied in one go.
   */
  async append (records: readonly Buffer[]): Promise<number> {
    let bytes = 0
    for (let at = 0; at < records.length;) {
      const batch: Buffer[] = []
      let batchBytes = 0
      for (; at < records.length && batchBytes < APPEND_BATCH_BYTES; at++) {
        const record = records[at] as Buffer
        batch.push(record)
        batchBytes += record.length
      }
      await writeAll(this.handle, Buffer.concat(batch, batchBytes), this.size)
      this.size += batchBytes
      bytes += batchBytes
    }
    await this.handle.datasync()
    return bytes
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
