import { writeSync } from 'node:fs'
import { open, type FileHandle } from 'node:fs/promises'
import { SharedStatePersistError } from '../../errors'

/** Writes all of `bytes` at `position`, however many calls the kernel needs. */
export async function writeAll (handle: FileHandle, bytes: Uint8Array, position: number): Promise<void> {
  let written = 0
  while (written < bytes.length) {
    const { bytesWritten } = await handle.write(bytes, written, bytes.length - written, position + written)
    written += bytesWritten
  }
}

/**
 * `writeAll`, on the calling thread: a write into the page cache costs a few microseconds, less
 * than handing it to the thread pool and waiting for a turn of the loop to hear it is done.
 */
export function writeAllNow (handle: FileHandle, bytes: Uint8Array, position: number): void {
  let written = 0
  while (written < bytes.length) written += writeSync(handle.fd, bytes, written, bytes.length - written, position + written)
}

/**
 * Makes a new or renamed directory entry durable: without it a crash can forget the rename (or
 * the file) even though the file's own bytes were fsynced. Windows cannot open a directory.
 */
export async function syncDirectory (directory: string): Promise<void> {
  if (process.platform === 'win32') return
  const handle = await open(directory, 'r')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}

/** The coded error for a failed file operation, keeping the original as its `cause`. */
export function persistError (action: string, file: string, error: unknown): Error {
  if ((error as { code?: unknown } | undefined)?.code === 'FST_SHARED_STATE_PERSIST') return error as Error
  const detail = error instanceof Error ? error.message : String(error)
  return new SharedStatePersistError(`${action} ${file} failed: ${detail}`, { cause: error })
}
