import { hostname } from 'node:os'
import { open, readFile, unlink } from 'node:fs/promises'
import { SharedStatePersistError } from '../../errors'
import { persistError } from './file-io'

interface Owner {
  pid: number
  host: string
  /** When the owning process started, in epoch ms: tells a reused pid from the owner. */
  started: number
}

// Two readings of a process' start time differ by rounding; a reused pid started much later.
const SAME_START_MS = 1000

function thisProcess (): Owner {
  return { pid: process.pid, host: hostname(), started: Math.round(Date.now() - process.uptime() * 1000) }
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
 * cannot be checked and counts as held; one naming this process' pid but an earlier start is a
 * previous life of this pid (a restarted container); one naming this very process is another
 * plugin instance in it, still open.
 */
function held (owner: Owner | undefined): boolean {
  if (owner === undefined) return false
  const self = thisProcess()
  if (owner.host !== self.host) return true
  if (owner.pid === self.pid) return Math.abs(owner.started - self.started) < SAME_START_MS
  return alive(owner.pid)
}

async function readOwner (path: string): Promise<Owner | undefined> {
  try {
    const parsed = JSON.parse(await readFile(path, 'utf8')) as Partial<Owner>
    if (typeof parsed.pid !== 'number' || typeof parsed.host !== 'string' || typeof parsed.started !== 'number') return undefined
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
