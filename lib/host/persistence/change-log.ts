import type { FileHandle } from 'node:fs/promises'
import { dirname } from 'node:path'
import { setImmediate as nextTurn } from 'node:timers/promises'
import { SharedStatePersistError } from '../../errors'
import type { FsyncPolicy } from '../../options'
import { AppendQueue } from './append-queue'
import { ClientNumbers } from './client-numbers'
import { removeAbandonedSnapshots, SnapshotFile } from './compaction'
import { persistError, syncDirectory, writeAll, writeAllNow } from './file-io'
import { OwnerLock } from './owner-lock'
import { writeCommonRecord, writeRequest } from './record-fast-path'
import { FILE_HEADER_BYTES, RecordEncoder } from './record-format'
import { recoverLog, type LoadedLog, type RecoveredLog } from './recovery'
import { DurabilityWaiters } from './waiters'

export type { LoadedLog }

/** What the log has done to its file so far, for tests and the benchmark. */
export interface ChangeLogStats {
  /** Write calls that appended records (one per batch, however many records it held). */
  readonly writes: number
  /** fsync calls on the log for appended records. */
  readonly fsyncs: number
}

/**
 * A part of a snapshot: records, or a function that frames them with the log's encoder (as
 * `RecordEncoder.frameAll` would) from what it holds, without records made for them. `clients`
 * are the client numbers the snapshot defines at its head, the only ones its parts may use.
 */
export type SnapshotPart = ReadonlyArray<readonly unknown[]> |
((encoder: RecordEncoder, clients: ReadonlyMap<string, number>) => Buffer)

/** Work that needs the file to itself: no append is written while it runs. */
interface ExclusiveTask {
  readonly run: () => Promise<void>
  readonly resolve: () => void
  readonly reject: (error: unknown) => void
}

const EVERYSEC_MS = 1000
// Under 'everysec' and 'no' nobody waits for a write, so the records of many turns go out in one:
// a write call costs the host's loop about as much as framing dozens of records. They wait at most
// this long, or until this many bytes are queued.
const WRITE_DELAY_MS = 2
const WRITE_BATCH_BYTES = 256 * 1024
// Under 'always' the file is grown in zeros this far ahead of its records: an append that stays
// inside the file's length changes no metadata, so its fdatasync writes the data alone and commits
// no filesystem journal (on ext4 the median write+fdatasync went from about 140 µs to 90 µs).
// Only the fsync after a growth pays for the new length, once per this many bytes of records.
const PREALLOCATE_BYTES = 4 * 1024 * 1024
// Under 'always' an fsync starts for records written while another runs, up to this many at once.
// The later one covers everything written before it started, the earlier one's records too; on a
// 2-vCPU VM two at a time tripled the fsyncs a second against one, where the disk otherwise idled
// while the loop turned from one fsync's return to the next one's start.
const SYNCS_IN_FLIGHT = 2
// Under 'everysec' the records made while the log's fsync runs wait for it, as Redis defers its
// AOF writes then: a write could wait behind the disk. An fsync running longer than this holds
// them no more (Redis' limit too): what waits in memory is then at most this long's changes, and
// the writes that follow hold the loop while the disk is slow, which slows the changes to its pace.
export const POSTPONE_MAX_MS = 2000

/**
 * The host's append-only change log: a snapshot of the live state followed by every change since.
 *
 * Appends are encoded at once into the queue's open frame and written by a single writer chain
 * (the pump), so they reach the file in order; the records of one write go out as one frame,
 * under one checksum (records the generic encoder makes in frames of their own). Records are
 * numbered; `durable()` waits for the number of the last one appended. Under 'always' one fsync
 * covers everything written before it: records arriving while it runs wait for the next one
 * (group commit). A failed write or fsync fails the log for good: what was written after the
 * last successful fsync is in an unknown state, so every later `durable()` rejects, and
 * `onFailure` hears of it once. A lock file beside the log keeps a second host out of it.
 */
export class ChangeLog {
  readonly #file: string
  readonly #policy: FsyncPolicy
  readonly #mode: number
  readonly #encoder = new RecordEncoder()
  readonly #queue = new AppendQueue()
  readonly #clients = new ClientNumbers()
  readonly #waiters = new DurabilityWaiters()
  readonly #owner: OwnerLock
  readonly #onFailure: (error: Error) => void
  #handle: FileHandle
  /** Where the next record goes: the end of the records, not of the file. */
  #size: number
  /** The file's length: under 'always' zeros run from `#size` to here (see PREALLOCATE_BYTES). */
  #allocated: number
  /** Growing ahead failed (a full disk, a file-size limit): the records are written without it. */
  #growthRefused = false
  /** Told of trouble the log carries on through (the file could not be grown ahead). */
  warn: ((message: string, error?: Error) => void) | undefined
  #snapshotBytes: number
  #appendedBytes: number
  #writtenSeq = 0
  #syncedSeq = 0
  /** Under 'always': the last record an fsync running or done covers. */
  #coveredSeq = 0
  /** The fsyncs running: two at most under 'always', one under 'everysec'. */
  readonly #syncing = new Set<Promise<void>>()
  /** When the last fsync started (performance.now()), which may postpone writes. */
  #syncStartedAt = 0
  /** A write went out during a slow fsync: said once per such fsync. */
  #postponeWarned = false
  #syncRequested = false
  #pumping = false
  #drained: Promise<void> = Promise.resolve()
  #exclusive: ExclusiveTask | undefined
  #compaction: Promise<void> | undefined
  #flushImmediate: NodeJS.Immediate | undefined
  #writeTimer: NodeJS.Timeout | undefined
  /** The write timer runs: a deferred write is coming. */
  #writeArmed = false
  /** A deferred write is due (its delay passed): the pump writes what is queued. */
  #writeDue = false
  #syncTimer: NodeJS.Timeout | undefined
  #failure: Error | undefined
  #closing = false
  #closed: Promise<void> | undefined
  #writes = 0
  #fsyncs = 0

  private constructor (file: string, policy: FsyncPolicy, recovered: RecoveredLog, owner: OwnerLock, onFailure: (error: Error) => void) {
    this.#file = file
    this.#policy = policy
    this.#owner = owner
    this.#onFailure = onFailure
    this.#handle = recovered.handle
    this.#size = recovered.size
    this.#allocated = recovered.size
    this.#snapshotBytes = recovered.snapshotBytes
    this.#appendedBytes = recovered.size - FILE_HEADER_BYTES - recovered.snapshotBytes
    this.#mode = recovered.mode
    if (policy === 'everysec') {
      this.#syncTimer = setTimeout(() => this.#everySecond(), EVERYSEC_MS).unref()
    }
  }

  /**
   * Opens the log, creating it if absent, and returns every record in it. A torn last record is
   * dropped (`tornTail`) and cut from the file; corruption anywhere else throws
   * FST_SHARED_STATE_PERSIST naming the file and the offset, and loads nothing. A log another
   * live process keeps open (`ownerWait` ms at most) is refused the same way. `onFailure` hears
   * of the first failed write.
   */
  static async open (file: string, fsync: FsyncPolicy, onFailure: (error: Error) => void = () => {},
    ownerWait?: number): Promise<{ log: ChangeLog, loaded: LoadedLog }> {
    const owner = await OwnerLock.claim(file, ownerWait)
    try {
      await removeAbandonedSnapshots(file)
      const recovered = await recoverLog(file)
      return { log: new ChangeLog(file, fsync, recovered, owner, onFailure), loaded: recovered.loaded }
    } catch (error) {
      await owner.release()
      throw error
    }
  }

  get file (): string {
    return this.#file
  }

  /** Bytes of records appended after the snapshot section (written or queued). */
  get appendedBytes (): number {
    return this.#appendedBytes
  }

  /** Bytes of the snapshot section the last compaction wrote (0 before the first). */
  get snapshotBytes (): number {
    return this.#snapshotBytes
  }

  get compacting (): boolean {
    return this.#compaction !== undefined
  }

  /** Why the log stopped, once a write, fsync or compaction switch failed. */
  get failure (): Error | undefined {
    return this.#failure
  }

  /** True while a record appended under 'always' waits for its fsync. */
  get pending (): boolean {
    if (this.#failure !== undefined) return false
    return this.#queue.lastSeq > (this.#policy === 'always' ? this.#syncedSeq : this.#writtenSeq)
  }

  get stats (): ChangeLogStats {
    return { writes: this.#writes, fsyncs: this.#fsyncs }
  }

  /**
   * Queues one record (strings, numbers, binary, null, arrays). Never waits: the record is framed
   * now and written with the rest of this turn's records. Throws only for a closed log or a value
   * MessagePack cannot encode; a failed log drops the record and `durable()` reports the failure.
   */
  append (record: readonly unknown[]): void {
    if (!this.#accepting()) return
    const before = this.#queue.bytes
    try {
      if (!writeCommonRecord(record, this.#queue)) this.#queue.pushFrame(this.#encoder.frame(record))
    } catch (error) {
      throw persistError('encoding a record for', this.#file, error)
    }
    this.#queued(before)
  }

  /**
   * Appends what one request did, as one record: the memory of its reply and its changes (the
   * first `count` of `changes`), ['req', client, id, reply, change...], where `client` is the
   * number this log gave `clientId` (defined by a ['client', client, clientId] record before, the
   * first time). The same as `append` of that record, without making it.
   */
  appendRequest (changes: ReadonlyArray<readonly unknown[]>, count: number, clientId: string, id: number, reply: unknown): void {
    if (!this.#accepting()) return
    const before = this.#queue.bytes
    try {
      let client = this.#clients.get(clientId)
      if (client === undefined) {
        client = this.#clients.add(clientId)
        this.#queue.pushFrame(this.#encoder.frame(['client', client, clientId]))
      }
      if (!writeRequest(changes, count, client, id, reply, this.#queue)) {
        this.#queue.pushFrame(this.#encoder.frame(['req', client, id, reply, ...changes.slice(0, count)]))
      }
    } catch (error) {
      throw persistError('encoding a record for', this.#file, error)
    }
    this.#queued(before)
  }

  /** False when an append is to be dropped (the log failed); throws once it is closed. */
  #accepting (): boolean {
    if (this.#closing) throw new SharedStatePersistError(`appending to ${this.#file} after close`)
    return this.#failure === undefined
  }

  /** Counts a record just queued, and sees that a write takes it. */
  #queued (before: number): void {
    this.#appendedBytes += this.#queue.bytes - before
    if (this.#policy !== 'always' && this.#queue.bytes < WRITE_BATCH_BYTES) {
      if (!this.#writeArmed) this.#armWrite()
      return
    }
    this.#writeDue = true
    this.#flushImmediate ??= setImmediate(this.#writeNow)
  }

  /** One timer, set again for each write (cheaper than a new timer every few milliseconds). */
  #armWrite (): void {
    this.#writeArmed = true
    if (this.#writeTimer === undefined) this.#writeTimer = setTimeout(this.#writeWhenDue, WRITE_DELAY_MS)
    else this.#writeTimer.refresh()
  }

  readonly #writeWhenDue = (): void => {
    this.#writeArmed = false
    this.#writeDue = true
    this.#kick()
  }

  readonly #writeNow = (): void => {
    this.#flushImmediate = undefined
    this.#kick()
  }

  /** Resolves once every record appended so far is as durable as the fsync policy promises. */
  durable (): Promise<void> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure)
    const done = this.#policy === 'always' ? this.#syncedSeq : this.#writtenSeq
    if (this.#queue.lastSeq <= done) return Promise.resolve()
    return this.#waiters.waitFor(this.#queue.lastSeq)
  }

  /**
   * Replaces the log with `snapshot`, records describing the whole live state now. The snapshot
   * is written and fsynced beside the log while appends go on; then, with appends paused, the
   * records appended meanwhile are added after it, it is renamed over the log and the directory
   * fsynced. On failure before the rename the old log stays, complete, and in use.
   */
  async compact (snapshot: ReadonlyArray<readonly unknown[]>): Promise<void> {
    await this.compactParts([snapshot])
  }

  /**
   * `compact`, with the snapshot's records taken a part at a time and a turn of the event loop
   * between parts, so a large state is never encoded in one go. The records appended from the
   * first part on are the new file's tail, copied from the old one once the snapshot is written,
   * so a part may describe a key as it was when that part was taken: replaying the tail after the
   * snapshot ends in the same state, as every record carries a whole value.
   */
  async compactParts (parts: Iterable<SnapshotPart>, keepClient: (clientId: string) => boolean = () => true): Promise<void> {
    if (this.#closing) throw new SharedStatePersistError(`compacting ${this.#file} after close`)
    if (this.#failure !== undefined) throw this.#failure
    if (this.#compaction !== undefined) {
      throw new SharedStatePersistError(`a compaction of ${this.#file} is already running`)
    }
    // The tail starts after what is queued now, which goes to the old file first: a frame of its own.
    this.#queue.cut()
    const tailFrom = this.#size + this.#queue.bytes
    // The tail refers to the clients numbered so far by number: the snapshot defines them first.
    const clients = this.#clients.retain(keepClient)
    const head: SnapshotPart = [...clients].map(([clientId, number]) => ['client', number, clientId])
    const compaction = this.#writeSnapshot(withHead(head, parts), clients).then((written) => this.#compactInto(written, tailFrom))
    this.#compaction = compaction
    try {
      await compaction
    } finally {
      this.#compaction = undefined
    }
  }

  /**
   * Frames the parts and writes each to a new snapshot file as it comes, with a turn of the event
   * loop between parts at least (the writes add more), then fsyncs it.
   */
  async #writeSnapshot (parts: Iterable<SnapshotPart>, clients: ReadonlyMap<string, number>): Promise<{ temp: SnapshotFile, snapshotBytes: number }> {
    let temp: SnapshotFile
    try {
      temp = await SnapshotFile.create(this.#file, this.#mode)
    } catch (error) {
      throw persistError('writing a snapshot of', this.#file, error)
    }
    try {
      let first = true
      for (const part of parts) {
        if (!first) await nextTurn()
        first = false
        let body: Buffer
        try {
          body = typeof part === 'function' ? part(this.#encoder, clients) : this.#encoder.frameAll(part)
        } catch (error) {
          throw persistError('encoding the snapshot of', this.#file, error)
        }
        await temp.appendPart(body)
      }
      return { temp, snapshotBytes: await temp.endSnapshot() }
    } catch (error) {
      await temp.discard()
      throw persistError('writing a snapshot of', this.#file, error)
    }
  }

  /** Writes what is queued, fsyncs (unless 'no') and closes the file; the same promise each time. */
  close (): Promise<void> {
    this.#closed ??= this.#close()
    return this.#closed
  }

  async #close (): Promise<void> {
    this.#closing = true
    clearTimeout(this.#syncTimer)
    clearTimeout(this.#writeTimer)
    this.#writeArmed = false
    this.#writeDue = true
    if (this.#flushImmediate !== undefined) clearImmediate(this.#flushImmediate)
    this.#flushImmediate = undefined
    await this.#compaction?.catch(() => {})
    this.#syncRequested = this.#policy !== 'no'
    await this.#kick()
    await this.#syncsSettled()
    await this.#trimAllocation()
    try {
      await this.#handle.close()
    } catch (error) {
      this.#fail('closing', error)
    }
    await this.#owner.release()
    if (this.#failure !== undefined) throw this.#failure
  }

  /**
   * Zeros after the records just written, before the fsync that covers them, so that fsync records
   * the new length once; a crash meanwhile leaves zeros after the last record, which a reload cuts.
   * Only a speed-up: when it fails, the log goes on without it, and a write of records that does
   * not fit fails the log as ever.
   */
  async #growAhead (end: number): Promise<void> {
    this.#allocated = end + PREALLOCATE_BYTES
    try {
      await writeAll(this.#handle, Buffer.alloc(PREALLOCATE_BYTES), end)
    } catch (error) {
      this.#growthRefused = true
      this.warn?.(`shared state: ${this.#file} could not be grown ahead of its records (the disk may be nearly full); ` +
        'it goes on without, each fsync a little slower', persistError('growing', this.#file, error))
    }
  }

  /** A closed log ends at its last record: the zeros grown ahead of it are cut. */
  async #trimAllocation (): Promise<void> {
    if (this.#failure !== undefined || this.#allocated === this.#size) return
    try {
      await this.#handle.truncate(this.#size)
      if (this.#policy !== 'no') await this.#handle.datasync()
      this.#allocated = this.#size
    } catch (error) {
      this.#fail('closing', error)
    }
  }

  #everySecond (): void {
    if (this.#queue.lastSeq > this.#syncedSeq) {
      this.#syncRequested = true
      this.#kick()
    }
    this.#syncTimer?.refresh()
  }

  /** Starts the writer chain unless it runs; resolves when it has nothing left to do. */
  #kick (): Promise<void> {
    if (!this.#pumping) {
      this.#pumping = true
      this.#drained = this.#pump()
    }
    return this.#drained
  }

  async #pump (): Promise<void> {
    try {
      while (this.#failure === undefined) {
        // A task may switch files: it waits for the fsyncs running, whose end starts the pump again.
        const task = this.#exclusive
        if (task !== undefined && this.#syncing.size === 0) {
          this.#exclusive = undefined
          await task.run().then(task.resolve, task.reject)
        } else if (this.#policy === 'always') {
          // Nothing new is written or fsynced while a task waits, so the fsyncs running drain.
          if (task !== undefined) break
          if (this.#queue.bytes > 0) await this.#writeQueued()
          else if (this.#writtenSeq > this.#coveredSeq && this.#syncing.size < SYNCS_IN_FLIGHT) this.#startSync()
          else break
        } else if (this.#queue.bytes > 0 && this.#writeDue && this.#mayWrite()) {
          // While a task waits for a slow 'everysec' fsync too: the records go to the old file,
          // whose tail a switch then copies.
          await this.#writeQueued()
        } else if (this.#needsSync() && this.#syncing.size === 0) {
          this.#startSync()
        } else {
          break
        }
      }
    } catch (error) {
      this.#fail('writing to', error)
    } finally {
      // Set before the promise settles, so an append in between starts a new pump.
      this.#pumping = false
    }
  }

  #needsSync (): boolean {
    return this.#syncedSeq < this.#writtenSeq && this.#syncRequested
  }

  /**
   * Whether the records queued may be written now: under 'everysec' not while the log's fsync
   * runs (its end starts the pump again), unless it has run for POSTPONE_MAX_MS.
   */
  #mayWrite (): boolean {
    if (this.#syncing.size === 0 || this.#policy !== 'everysec') return true
    if (performance.now() - this.#syncStartedAt < POSTPONE_MAX_MS) return false
    if (!this.#postponeWarned) {
      this.#postponeWarned = true
      this.warn?.(`shared state: an fsync of ${this.#file} has run for over ${POSTPONE_MAX_MS / 1000} s (a slow or busy ` +
        'disk?); the changes are written without waiting for it, and each write may hold the host until the disk catches up')
    }
    return true
  }

  /**
   * An fsync of everything written so far, not waited for by the pump. Under 'always' the pump
   * goes on writing what comes meanwhile, and the fsync's end releases the replies it covers,
   * after the pump has written the records that came meanwhile and started their fsync, so the
   * disk is not left idle while the replies are sent. Under 'everysec' (the timer's fsync, and
   * the last one on close) the pump writes nothing meanwhile, for a while (see #mayWrite).
   */
  #startSync (): void {
    const seq = this.#writtenSeq
    this.#coveredSeq = seq
    this.#syncRequested = false
    this.#syncStartedAt = performance.now()
    this.#postponeWarned = false
    this.#fsyncs++
    const syncing = this.#handle.datasync().then(() => {
      this.#syncing.delete(syncing)
      this.#kick()
      if (seq <= this.#syncedSeq) return
      this.#syncedSeq = seq
      this.#waiters.settle(seq)
    }, (error: unknown) => {
      this.#syncing.delete(syncing)
      this.#fail('fsyncing', persistError('fsyncing', this.#file, error))
      this.#kick()
    })
    this.#syncing.add(syncing)
  }

  /** Waits until no fsync runs and the pump has nothing left to do. */
  async #syncsSettled (): Promise<void> {
    while (this.#syncing.size > 0) {
      await Promise.all(this.#syncing)
      await this.#kick()
    }
  }

  async #writeQueued (): Promise<void> {
    const taken = this.#queue.take()
    this.#writeDue = false
    if (taken === undefined) return
    const { batch, seq } = taken
    this.#writes++
    const end = this.#size + batch.length
    try {
      // Written on the loop's thread, whatever the policy: a write into the page cache costs a few
      // µs, where handing it to the thread pool cost the host more than a quarter of what logging
      // adds to an incr (perf at 100 k incr/s: a thread woken, the loop woken again to hear it is
      // done). Under 'always' a reply waits for this write and the fsync after it, so the fsync is
      // the only hand-off left. No write runs during the log's own fsync (the pump waits for it),
      // where one could wait behind the disk, as Redis defers its AOF writes then: the records of
      // that while wait queued. Once the kernel holds as much unwritten data as it allows, a write
      // waits for the disk and holds the loop meanwhile, as Redis' does.
      writeAllNow(this.#handle, batch, this.#size)
    } catch (error) {
      throw persistError('writing to', this.#file, error)
    }
    this.#size = end
    if (this.#policy === 'always' && end > this.#allocated && !this.#growthRefused) await this.#growAhead(end)
    this.#writtenSeq = seq
    if (this.#policy !== 'always') this.#waiters.settle(seq)
  }

  async #compactInto ({ temp, snapshotBytes }: { temp: SnapshotFile, snapshotBytes: number }, tailFrom: number): Promise<void> {
    try {
      await this.#runExclusive(async () => await this.#switchTo(temp, snapshotBytes, tailFrom))
    } catch (error) {
      if (!temp.renamed) await temp.discard()
      throw error
    }
  }

  /** Runs in the writer chain, so no append is written to either file meanwhile. */
  async #switchTo (temp: SnapshotFile, snapshotBytes: number, tailFrom: number): Promise<void> {
    // What is queued goes to the old file first, which keeps it complete should the switch fail,
    // and ends the tail; from here on, appends queue for the new file only.
    try {
      await this.#writeQueued()
    } catch (error) {
      throw this.#fail('writing to', error)
    }
    let tailBytes: number
    try {
      tailBytes = await temp.copyTail(this.#handle, tailFrom, this.#size)
      await temp.replace(this.#file)
    } catch (error) {
      throw persistError('compacting', this.#file, error)
    }
    const old = this.#handle
    this.#handle = temp.handle
    this.#size = temp.size
    this.#allocated = temp.size
    this.#growthRefused = false
    this.#snapshotBytes = snapshotBytes
    this.#appendedBytes = tailBytes + this.#queue.bytes
    await old.close().catch(() => {})
    try {
      await syncDirectory(dirname(this.#file))
    } catch (error) {
      throw this.#fail('compacting', error)
    }
    // The new file holds every record written so far, fsynced, under a durable name.
    this.#syncedSeq = this.#writtenSeq
    this.#coveredSeq = this.#writtenSeq
    this.#waiters.settle(this.#syncedSeq)
  }

  #runExclusive (run: () => Promise<void>): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (this.#failure !== undefined) return reject(this.#failure)
      this.#exclusive = { run, resolve, reject }
      this.#kick()
    })
  }

  /** The first failure sticks: it rejects every waiter now and every `durable()` after. */
  #fail (action: string, error: unknown): Error {
    if (this.#failure === undefined) {
      this.#failure = persistError(action, this.#file, error)
      this.#queue.clear()
      this.#waiters.rejectAll(this.#failure)
      this.#exclusive?.reject(this.#failure)
      this.#exclusive = undefined
      this.#onFailure(this.#failure)
    }
    return this.#failure
  }
}

/** The parts after `head`, still taken one at a time as the snapshot is written. */
function * withHead (head: SnapshotPart, parts: Iterable<SnapshotPart>): Generator<SnapshotPart> {
  yield head
  yield * parts
}
