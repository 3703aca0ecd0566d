import { readFileSync } from 'node:fs'
import { open, readFile, unlink } from 'node:fs/promises'
import { hostname } from 'node:os'
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

/** `pid`'s start time from /proc (Linux), or undefined when it is not running or there is no /proc. */
export function processStart (pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1')
    // Fields after the command name, which may hold spaces and parentheses; start time is field 22.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    const bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'latin1').trim()
    return `${bootId}/${fields[19] as string}`
  } catch {
    return undefined
  }
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
 * restarted container) does not keep the log locked. One naming this very process is another
 * plugin instance in it, still open.
 */
function held (owner: Owner | undefined): boolean {
  if (owner === undefined) return false
  const self = thisProcess()
  if (owner.host !== self.host) return true
  if (owner.pid === self.pid) return sameStart(owner.started, self.started)
  const started = processStart(owner.pid)
  if (started !== undefined) return sameStart(owner.started, started)
  // No /proc, or one hiding other users' processes: a live pid counts as the owner.
  return alive(owner.pid)
}

function sameStart (a: string, b: string): boolean {
  if (a.includes('/') || b.includes('/')) return a === b
  return Math.abs(Number(a) - Number(b)) < SAME_START_MS
}

async function readOwner (path: string): Promise<Owner | undefined> {
  try {
    const parsed = JSON.parse(await readFile(path, 'utf8')) as Partial<Owner>
    if (typeof parsed.pid !== 'number' || typeof parsed.host !== 'string' || typeof parsed.started !== 'string') return undefined
    return parsed as Owner
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw error
    // Torn or foreign content: whoever wrote it died before finishing a 60-byte write.
    return undefined
  }
}

/**
 * The claim of one host on a change log: a file beside it, created exclusively, naming the
 * owning process. Two hosts appending to one log would interleave their records; a host that
 * finds the claim of a live process refuses to open the log. A claim left by a dead process is
 * taken over. This guards against a misconfiguration (two apps, or two sockets, sharing one
 * `persist.file`); within one app the election already keeps a single host.
 */
export class OwnerLock {
  readonly #path: string
  #released = false

  private constructor (path: string) {
    this.#path = path
  }

  static async claim (file: string): Promise<OwnerLock> {
    const path = `${file}.lock`
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const handle = await open(path, 'wx', 0o600)
        try {
          await handle.writeFile(JSON.stringify(thisProcess()))
        } finally {
          await handle.close()
        }
        return new OwnerLock(path)
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw persistError('locking', file, error)
      }
      let owner: Owner | undefined
      try {
        owner = await readOwner(path)
      } catch {
        continue // released meanwhile: try again
      }
      if (held(owner)) {
        const who = owner as Owner
        throw new SharedStatePersistError(`${file} is in use by process ${who.pid} on ${who.host} ` +
          `(see ${path}); two hosts must not append to one log. Remove ${path} if no such process runs`)
      }
      await unlink(path).catch(() => {})
    }
    throw new SharedStatePersistError(`cannot lock ${file}: ${path} keeps changing`)
  }

  async release (): Promise<void> {
    if (this.#released) return
    this.#released = true
    await unlink(this.#path).catch(() => {})
  }
}
