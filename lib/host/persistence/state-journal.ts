import { setImmediate as nextTurn } from 'node:timers/promises'
import { SharedStatePersistError } from '../../errors'
import type { FsyncPolicy, PersistOptions } from '../../options'
import type { ValueCodec } from '../../protocol/codec'
import type { Encoded, PersistDescription } from '../../store/store'
import type { Reply } from '../applied-replies'
import { HostEngine, type EngineSnapshot, type Journal } from '../host-engine'
import { ChangeLog, type SnapshotPart } from './change-log'
import { frameReplies, LogDamage } from './record-format'
import { corruptLog } from './recovery'

/**
 * The engine's changes, as records in the change log:
 *
 *   ['put', key, value, expiresAt]   ['del', key]   ['expiry', key, expiresAt]   ['clear']
 *   ['token', lock, token]           ['batch', [change, ...]]
 *   ['client', client, clientId]     ['req', client, requestId, reply, change...]
 *
 * Values are logged whole (not the operation that changed them), so a reload replays no logic
 * and cannot diverge from what the host served. A request's changes go in one 'req' record with
 * the memory of its reply: a crash that tears the write keeps both or neither, never a change
 * without the memory that it was made (a resent request would then be applied twice). Its client
 * is named by the number a 'client' record gave it earlier in the file (see ClientNumbers).
 * Changes no reply follows (the host worker's own calls, expiries) go alone or in a 'batch'.
 * Files written before the 'req' record have ['applied', clientId, requestId, reply], and a
 * snapshot still writes one for a client without a number. A snapshot holds the live entries as
 *
 *   ['entries', part]   (part: the binary entry parts of store/memory/entry-parts.ts)
 *
 * so that writing and loading it costs little more than its bytes: no record, and no decoding,
 * per entry. Then the tokens and replies as records.
 */

// Compact once the changes since the last snapshot outweigh it (as Redis rewrites its AOF once it
// doubled), and are past this size: a small state, whose snapshot is mostly the replies kept for
// retries, is not rewritten every fraction of a second under a steady load of writes. The size
// bounds the records a reload replays after the snapshot: some 250-500 thousand small writes, as
// the record of an incr or a small set is 21-42 bytes (a write's records share a frame).
const COMPACT_RATIO = 1
const COMPACT_MIN_BYTES = 10 * 1024 * 1024

type Record = readonly unknown[]
const EMPTY: Record = []

/** Where the journal reports: a failed compaction is a warning, a stopped log an error. */
export interface JournalLog {
  warn: (message: string, error?: Error) => void
  error: (message: string, error?: Error) => void
}

/** Replays one record; `clients`: the client numbers the file defined so far. */
function apply (engine: HostEngine, record: Record, clients: Map<number, string>): void {
  switch (record[0]) {
    case 'entries': return drain(engine.state.restoreParts([record[1] as Uint8Array]))
    case 'put': return engine.state.put(record[1] as string, record[2] as Encoded, record[3] as number)
    case 'del': engine.state.delete(record[1] as string); return
    case 'expiry': engine.state.expireAt(record[1] as string, record[2] as number); return
    case 'clear': return engine.state.clear()
    case 'token': return engine.locks.restoreTokens([[record[1] as string, record[2] as number]])
    case 'client': clients.set(record[1] as number, record[2] as string); return
    case 'req': return applyRequest(engine, record, clients)
    case 'applied': return engine.applied.remember(record[1] as string, record[2] as number, record[3] as Reply)
    case 'batch': for (const part of record[1] as Record[]) apply(engine, part, clients); return
    default: throw new SharedStatePersistError(`unknown record type ${String(record[0])}`)
  }
}

function applyRequest (engine: HostEngine, record: Record, clients: Map<number, string>): void {
  const clientId = clients.get(record[1] as number)
  if (clientId === undefined) throw new SharedStatePersistError(`a request record names client ${String(record[1])}, never defined`)
  engine.applied.remember(clientId, record[2] as number, record[3] as Reply)
  for (let i = 4; i < record.length; i++) apply(engine, record[i] as Record, clients)
}

// A part of a snapshot stays about this small, so taking it from the map and framing it is a short
// step (about 1.5 ms for 4,000 small keys on a 2-vCPU VM; a part of 1 MiB held the loop 10-45 ms).
const SNAPSHOT_PART_BYTES = 64 * 1024
// The replies kept for retries can number a hundred thousand: framed this many slots per turn.
const SNAPSHOT_PART_SLOTS = 8192

/**
 * The snapshot's records, a part at a time: the lock tokens, then the replies kept for retries
 * (copied as they stand when the walk starts, framed from the copies without a record made per
 * reply), then the state's entries in binary parts as the walk reaches them (taken lazily, once
 * the log has marked where the snapshot's tail begins).
 */
function * snapshotParts (engine: HostEngine): Generator<SnapshotPart> {
  yield engine.locks.tokens().map(([name, token]) => ['token', name, token])
  for (const { clientId, ids, replies } of engine.applied.slots()) {
    for (let from = 0; from < ids.length; from += SNAPSHOT_PART_SLOTS) {
      yield (encoder, clients) => frameReplies(encoder, clientId, clients.get(clientId), ids, replies, from, from + SNAPSHOT_PART_SLOTS)
    }
  }
  for (const part of engine.state.encodedParts(SNAPSHOT_PART_BYTES)) yield [['entries', part]]
}

function drain (steps: Iterator<unknown>): void {
  while (steps.next().done !== true);
}

// The appended records are replayed in slices of about this long, so a long log neither holds
// the loop nor goes without a word of progress. A slice is timed, not counted: the first records
// run before the code is optimized, ten times slower than the rest.
const SLICE_MS = 3
// The clock is read once per this many records.
const RECORDS_PER_CLOCK = 64

/**
 * Replays the loaded records as they are decoded, with a turn of the event loop between slices;
 * each run of entry parts is restored in bulk (keys in order into an empty map are added without
 * a lookup), with a turn between parts.
 */
async function replay (engine: HostEngine, records: Iterable<Record>, progress: ((keys: number) => void) | undefined): Promise<void> {
  let parts: Uint8Array[] = []
  const clients = new Map<number, string>()
  let applied = 0
  let sliceStart = performance.now()
  for (const record of records) {
    if (record[0] === 'entries') {
      parts.push(record[1] as Uint8Array)
      continue
    }
    if (parts.length > 0) {
      await engine.restorePartsInTurns(parts, progress)
      parts = []
    }
    apply(engine, record, clients)
    if (++applied % RECORDS_PER_CLOCK === 0 && performance.now() - sliceStart > SLICE_MS) {
      progress?.(engine.state.size)
      await nextTurn()
      sliceStart = performance.now()
    }
  }
  await engine.restorePartsInTurns(parts, progress)
}

class StateJournal implements Journal {
  readonly #log: ChangeLog
  readonly #engine: HostEngine
  readonly #always: boolean
  readonly #fsync: FsyncPolicy
  readonly #warn: (message: string, error?: Error) => void
  /**
   * Changes of the request being run, appended with the memory of its reply as one record; the
   * first `#changeCount` are live. The list is kept from request to request: a logged request
   * makes no list of its own.
   */
  readonly #changes: Record[] = []
  #changeCount = 0
  #flushQueued = false
  #closing = false

  constructor (log: ChangeLog, engine: HostEngine, persist: Required<PersistOptions>, warn: (message: string, error?: Error) => void) {
    this.#log = log
    this.#engine = engine
    this.#always = persist.fsync === 'always'
    this.#fsync = persist.fsync
    this.#warn = warn
  }

  get failure (): Error | undefined {
    return this.#log.failure
  }

  describe (): PersistDescription {
    return { file: this.#log.file, fsync: this.#fsync, failure: this.#log.failure?.message ?? null }
  }

  record (record: Record): void {
    this.#changes[this.#changeCount++] = record
    // A change no reply follows (an expiry, a lease that ran out): appended before the next reply
    // is held or sent, or in the next turn of the loop at the latest. Nearly every change is taken
    // by the reply of its request at once; one immediate a turn, not a microtask a batch of
    // requests, is what the others cost the busy host.
    if (!this.#flushQueued) {
      this.#flushQueued = true
      setImmediate(this.#flushLater)
    }
  }

  readonly #flushLater = (): void => {
    this.#flushQueued = false
    try {
      this.#flush()
    } catch (error) {
      this.#warn('shared state: a change could not be logged', error as Error)
    }
  }

  applied (clientId: string, id: number, reply: Reply): void {
    const count = this.#takeChanges()
    try {
      this.#log.appendRequest(this.#changes, count, clientId, id, reply)
    } finally {
      this.#dropChanges(count)
    }
    this.#compactIfDue()
  }

  #flush (): void {
    const count = this.#takeChanges()
    if (count === 0) return
    try {
      this.#log.append(count === 1 ? this.#changes[0] as Record : ['batch', this.#changes.slice(0, count)])
    } finally {
      this.#dropChanges(count)
    }
    this.#compactIfDue()
  }

  /** How many changes are grouped; from now on they are taken (a failed append drops them). */
  #takeChanges (): number {
    const count = this.#changeCount
    this.#changeCount = 0
    return count
  }

  /** Lets the list go of the changes it held, so it keeps no value alive once logged. */
  #dropChanges (count: number): void {
    for (let i = 0; i < count; i++) this.#changes[i] = EMPTY
  }

  #compactIfDue (): void {
    if (this.#log.appendedBytes > COMPACT_MIN_BYTES &&
        this.#log.appendedBytes > COMPACT_RATIO * this.#log.snapshotBytes && !this.#log.compacting) {
      this.compact()
    }
  }

  // Under 'everysec' and 'no' an answer does not wait for the disk: the log is written within the
  // turn and the promise is only what the policy says (the last second, or whatever the OS kept).
  // Under 'always' every reply made while a record waits for its fsync waits for that fsync too.
  commit (): Promise<void> | undefined {
    this.#flush()
    return this.#always && this.#log.pending ? this.#log.durable() : undefined
  }

  compact (): void {
    // Changes still grouped go to the log now, ahead of where the compaction's tail begins.
    this.#flush()
    // The clients the host no longer remembers lose their numbers with the old file.
    this.#log.compactParts(snapshotParts(this.#engine), (clientId) => this.#engine.applied.has(clientId)).then(() => {
      // Under a burst of writes the tail written meanwhile can already be due: the log would
      // otherwise stay that large until the next write.
      if (this.#log.failure === undefined && !this.#closing) this.#compactIfDue()
    }, (error: Error) => {
      this.#warn('shared state: compacting the change log failed; it keeps growing', error)
    })
  }

  // A failure was reported when it happened; closing must go on to hand the state over.
  async close (): Promise<void> {
    this.#closing = true
    try {
      this.#flush()
    } catch {}
    await this.#log.close().catch(() => {})
  }
}

/**
 * Builds the host's engine: from the change log when `persist` is set (what a previous host
 * wrote, or, on a graceful handover, the state handed over, which is the newer), else empty or
 * handed over. From then on every change is logged.
 */
export async function openEngine (codec: ValueCodec, persist: Required<PersistOptions> | undefined,
  handedOver: EngineSnapshot | undefined, report: JournalLog,
  progress?: (keys: number) => void): Promise<HostEngine> {
  const warn = report.warn
  const engine = new HostEngine(codec, handedOver?.state.restored)
  if (persist === undefined) {
    if (handedOver !== undefined) await engine.restoreInTurns(handedOver, progress)
    return engine
  }
  const { log, loaded } = await ChangeLog.open(persist.file, persist.fsync, (error) => {
    report.error('shared state: the change log failed; every change is refused until the host restarts', error)
  })
  log.warn = warn
  if (loaded.tornTail) warn(`shared state: ${persist.file} ended in a torn write (a crash in the middle of it); the records of that write were dropped`)
  try {
    if (handedOver !== undefined) await engine.restoreInTurns(handedOver, progress)
    else await replay(engine, loaded.records, progress)
  } catch (error) {
    await log.close()
    if (error instanceof LogDamage) throw corruptLog(persist.file, error.offset, error.reason)
    throw error instanceof SharedStatePersistError ? error : new SharedStatePersistError(`cannot load ${persist.file}`, { cause: error })
  }
  const journal = new StateJournal(log, engine, persist, warn)
  engine.state.onChange = (change) => journal.record(change)
  engine.locks.onGrant = (name, token) => journal.record(['token', name, token])
  engine.journal = journal
  if (handedOver !== undefined) journal.compact()
  return engine
}

/** Flushes and closes the engine's change log, if it has one. */
export async function closeEngine (engine: HostEngine): Promise<void> {
  engine.state.onChange = undefined
  engine.locks.onGrant = undefined
  await engine.journal?.close()
}
