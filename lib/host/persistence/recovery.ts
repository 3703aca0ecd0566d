import { constants } from 'node:fs'
import { open, type FileHandle } from 'node:fs/promises'
import { dirname } from 'node:path'
import { setImmediate as nextTurn } from 'node:timers/promises'
import { SharedStatePersistError } from '../../errors'
import { persistError, syncDirectory, writeAll } from './file-io'
import { checkLog, encodeFileHeader, FILE_HEADER_BYTES, FORMAT_VERSION } from './record-format'

export interface LoadedLog {
  /**
   * The snapshot's records, then the appended ones, in the order they were written, each decoded
   * as the iteration reaches it; iterating throws a SharedStatePersistError at a record that
   * cannot be decoded.
   */
  records: Iterable<unknown[]>
  /** A torn last record (a crash in the middle of a write) was dropped; worth a warning. */
  tornTail: boolean
}

export interface RecoveredLog {
  readonly handle: FileHandle
  readonly loaded: LoadedLog
  /** Bytes in the file once repaired: where the next record goes. */
  readonly size: number
  readonly snapshotBytes: number
  /** The log's permission bits, which a compacted file keeps. */
  readonly mode: number
}

/** The error for a log damaged at `offset`: nothing of it is loaded. */
export function corruptLog (file: string, offset: number, reason: string): Error {
  return new SharedStatePersistError(`${file} is corrupt at byte ${offset} (${reason}); ` +
    `refusing to load it. The ${offset} bytes before that offset are intact.`)
}

/**
 * Opens the log (creating it if absent), reads it whole and leaves it ready for appending: a torn
 * tail is cut off, a missing or older header written, all fsynced before anything new is appended after
 * them. Corruption closes the file untouched and throws, naming the file and the offset.
 */
export async function recoverLog (file: string): Promise<RecoveredLog> {
  let handle: FileHandle
  try {
    handle = await open(file, constants.O_RDWR | constants.O_CREAT, 0o600)
  } catch (error) {
    throw persistError('opening', file, error)
  }
  try {
    const bytes = await handle.readFile()
    const checking = checkLog(bytes)
    let step = checking.next()
    for (; step.done !== true; step = checking.next()) await nextTurn()
    const parsed = step.value
    if (!parsed.ok) throw corruptLog(file, parsed.offset, parsed.reason)
    let size = parsed.end
    if (parsed.fresh) {
      await handle.truncate(0)
      await writeAll(handle, encodeFileHeader(0), 0)
      await handle.sync()
      await syncDirectory(dirname(file))
      size = FILE_HEADER_BYTES
    } else {
      if (parsed.end < bytes.length) await handle.truncate(parsed.end)
      // Records of the newer format are appended from now on: the header says so first.
      if (parsed.version < FORMAT_VERSION) await writeAll(handle, encodeFileHeader(parsed.snapshotBytes), 0)
      if (parsed.end < bytes.length || parsed.version < FORMAT_VERSION) await handle.sync()
    }
    const { mode } = await handle.stat()
    const loaded = { records: parsed.records, tornTail: parsed.tornTail }
    return { handle, loaded, size, snapshotBytes: parsed.snapshotBytes, mode: mode & 0o777 }
  } catch (error) {
    await handle.close().catch(() => {})
    throw persistError('loading', file, error)
  }
}
