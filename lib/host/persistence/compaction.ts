import { randomBytes } from 'node:crypto'
import { open, readdir, rename, unlink, type FileHandle } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { encodeFileHeader, FILE_HEADER_BYTES } from './record-format'
import { writeAll } from './file-io'

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

  /** Writes the header and the snapshot section, and fsyncs them, off the log's writer chain. */
  static async write (file: string, snapshot: Buffer, mode: number): Promise<SnapshotFile> {
    const path = `${file}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`
    const handle = await open(path, 'wx', mode)
    const temp = new SnapshotFile(path, handle, 0)
    try {
      const header = encodeFileHeader(snapshot.length)
      await writeAll(handle, Buffer.concat([header, snapshot]), 0)
      temp.size = FILE_HEADER_BYTES + snapshot.length
      await handle.sync()
    } catch (error) {
      await temp.discard()
      throw error
    }
    return temp
  }

  /** Adds the records appended to the log while the snapshot was written, and fsyncs them. */
  async append (records: Buffer): Promise<void> {
    await writeAll(this.handle, records, this.size)
    this.size += records.length
    await this.handle.datasync()
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
