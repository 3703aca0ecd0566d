import { readFileSync } from 'node:fs'
import { open, readFile, stat, unlink, type FileHandle } from 'node:fs/promises'
import { hostname } from 'node:os'
import { setTimeout as sleep } from 'node:timers/promises'
import { SharedStatePersistError } from '../../errors'
import { persistError } from './file-io'

interface Owner {
  pid: number
  host: string
  /**
   * When the owning process started: on Linux its start time in clock ticks since boot and the
   * boot's id, which tell a reused pid from the owner exactly; elsewhere epoch ms.
   */
  started: string
}

// Elsewhere than Linux two readings of a process' start time in ms differ by rounding.
const SAME_START_MS = 1000
const OWNER_WAIT_MS = 2000
const POLL_MS = 20
const UNREADABLE_STALE_MS = 1000

// The kernel's flag of a process in the middle of exiting (PF_EXITING in linux/sched.h).
const PF_EXITING = 0x4

interface ProcessStat {
  /** When it started: its start time in clock ticks since boot, and the boot's id. */
  started: string
  /**
   * Exiting, or exited but not yet reaped by its parent (a zombie): it appends nothing more,
   * though its pid and start time still read as a running process's. A worker that sees its
   * host's connection close reads the lock in that moment: the kernel closes a killed process'
   * sockets on its way out, and the cluster's primary reaps it later.
   */
  exited: boolean
}

/** What /proc says of `pid` (Linux), or undefined when it does not exist or there is no /proc. */
function processStat (pid: number): ProcessStat | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1')
    // Fields after the command name, which may hold spaces and parentheses: state first, the
    // kernel's flags 7th, the start time 20th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    const bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'latin1').trim()
    const state = fields[0]
    const exited = state === 'Z' || state === 'X' || (Number(fields[6]) & PF_EXITING) !== 0
    return { started: `${bootId}/${fields[19] as string}`, exited }
  } catch {
    return undefined
  }
}

/** `pid`'s start time from /proc (Linux), or undefined when it is not running or there is no /proc. */
export function processStart (pid: number): string | undefined {
  return processStat(pid)?.started
}

function thisProcess (): Owner {
  const started = processStart(process.pid) ?? String(Math.round(Date.now() - process.uptime() * 1000))
  return { pid: process.pid, host: hostname(), started }
}

function alive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    // EPERM: it exists, under another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * Whether the process named in a lock file may still be appending. A lock from another machine
 * cannot be checked and counts as held. On this machine the owner is alive when a process with
 * its pid runs and started when it did: a pid reused by another process (after a reboot, in a
 * restarted container) does not keep the log locked, nor does one that exited and awaits its
 * parent (a zombie). One naming this very process is another plugin instance in it, still open.
 */
function held (owner: Owner | undefined): boolean {
  if (owner === undefined) return false
  const self = thisProcess()
  if (owner.host !== self.host) return true
  if (owner.pid === self.pid) return sameStart(owner.started, self.started)
  const stat = processStat(owner.pid)
  if (stat !== undefined) return !stat.exited && sameStart(owner.started, stat.started)
  // No /proc, or one hiding other users' processes: a live pid counts as the owner.
  return alive(owner.pid)
}

function sameStart (a: string, b: string): boolean {
  if (a.includes('/') || b.includes('/')) return a === b
  return Math.abs(Number(a) - Number(b)) < SAME_START_MS
}

/** The owner a lock file names; 'gone' once it was removed; undefined while it says nothing readable. */
async function readOwner (path: string): Promise<Owner | 'gone' | undefined> {
  try {
    const parsed = JSON.parse(await readFile(path, 'utf8')) as Partial<Owner>
    if (typeof parsed.pid !== 'number' || typeof parsed.host !== 'string' || typeof parsed.started !== 'string') return undefined
    return parsed as Owner
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'gone' : undefined
  }
}

/**
 * Whether the last host to claim `file` died holding it (kill -9, a crash): the lock file names a
 * process on this machine that no longer runs. False when there is no lock, an unreadable one, one
 * from another machine, or a live owner.
 */
export async function claimedByTheDead (file: string): Promise<boolean> {
  const owner = await readOwner(`${file}.lock`)
  return typeof owner === 'object' && owner.host === hostname() && !held(owner)
}

/**
 * A lock file with nothing readable in it is being written right now (it is created empty), or
 * was left so by a process that died in between: stale once it has stayed so a while.
 */
async function abandoned (path: string): Promise<boolean> {
  try {
    return Date.now() - (await stat(path)).mtimeMs > UNREADABLE_STALE_MS
  } catch {
    return false
  }
}

async function create (path: string, file: string): Promise<boolean> {
  let handle: FileHandle
  try {
    handle = await open(path, 'wx', 0o600)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false
    throw persistError('locking', file, error)
  }
  try {
    await handle.writeFile(JSON.stringify(thisProcess()))
  } catch (error) {
    await handle.close().catch(() => {})
    await unlink(path).catch(() => {})
    throw persistError('locking', file, error)
  }
  await handle.close()
  return true
}

/**
 * The claim of one host on a change log: a file beside it, created exclusively, naming the
 * owning process. Two hosts appending to one log would interleave their records; a host that
 * finds the claim of a live process refuses to open the log. A claim left by a dead process is
 * taken over. This guards against a misconfiguration (two apps, or two sockets, sharing one
 * `persist.file`); within one app the election already keeps a single host. (Two processes that
 * take over one stale claim at the same instant can both succeed: a file cannot tell them apart
 * without an OS lock, which Node does not offer.)
 */
export class OwnerLock {
  readonly #path: string
  #released = false

  private constructor (path: string) {
    this.#path = path
  }

  /**
   * Claims `file`, waiting up to `wait` ms for a live owner to let go: a host closing gracefully
   * releases the log a moment before its successor takes over, and a worker that wins the
   * election in that moment then loads everything the closing host wrote.
   */
  static async claim (file: string, wait = OWNER_WAIT_MS): Promise<OwnerLock> {
    const path = `${file}.lock`
    const deadline = Date.now() + wait
    for (;;) {
      if (await create(path, file)) return new OwnerLock(path)
      const owner = await readOwner(path)
      if (owner === 'gone') continue
      const stale = owner === undefined ? await abandoned(path) : !held(owner)
      if (stale && await unlink(path).then(() => true, () => false)) continue
      if (Date.now() >= deadline) {
        const who = owner === undefined ? 'another process' : `process ${owner.pid} on ${owner.host}`
        throw new SharedStatePersistError(`${file} is in use by ${who} (see ${path}); two hosts must not ` +
          `append to one log. Remove ${path} if no such process runs`)
      }
      await sleep(POLL_MS)
    }
  }

  async release (): Promise<void> {
    if (this.#released) return
    this.#released = true
    await unlink(this.#path).catch(() => {})
  }
}
