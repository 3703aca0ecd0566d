import { randomBytes } from 'node:crypto'
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from './ports'
import { stopProcess } from './processes'

const READY_TIMEOUT = 10000

/** One PING over a fresh TCP connection: true on +PONG, false on anything else. */
function ping (port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port })
    let reply = ''
    const done = (ok: boolean): void => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(500, () => done(false))
    socket.once('error', () => done(false))
    socket.once('connect', () => socket.write('PING\r\n'))
    socket.on('data', (chunk) => {
      reply += String(chunk)
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'))
    })
  })
}

/**
 * A redis-server of the test's own, on a free port, without persistence (`--save ''
 * --appendonly no`), in a scratch directory: never the shared Redis on 6379. Tests stop, kill and
 * restart it by its pid. When redis-server cannot be started, `start()` throws: a Redis test
 * fails loudly, it is never skipped.
 */
export class RedisServer {
  readonly port: number
  readonly #dir: string
  #child: ChildProcess | undefined
  #output = ''

  private constructor (port: number, dir: string) {
    this.port = port
    this.#dir = dir
  }

  get url (): string {
    return `redis://127.0.0.1:${this.port}`
  }

  get pid (): number | undefined {
    return this.#child?.pid
  }

  static async start (): Promise<RedisServer> {
    const server = new RedisServer(await freePort(), mkdtempSync(join(tmpdir(), 'shared-state-redis-')))
    await server.restart()
    return server
  }

  /** Starts redis-server again on the same port (after stop or kill): empty, as Redis keeps nothing. */
  async restart (): Promise<void> {
    if (this.#child !== undefined) throw new Error('redis-server is already running')
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', this.#dir]
    const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] })
    this.#child = child
    this.#output = ''
    child.stdout?.on('data', (chunk) => { this.#output += String(chunk) })
    child.stderr?.on('data', (chunk) => { this.#output += String(chunk) })
    let failure: Error | undefined
    child.once('error', (error) => { failure = error })
    child.once('exit', () => { if (this.#child === child) this.#child = undefined })
    const deadline = Date.now() + READY_TIMEOUT
    while (!(await ping(this.port))) {
      if (failure !== undefined || child.exitCode !== null || Date.now() > deadline) {
        await this.stop()
        throw new Error('The Redis tests need redis-server on the PATH and could not start it ' +
          `(port ${this.port}): ${failure?.message ?? 'it did not answer PING'}\n${this.#output}` +
          '\nInstall Redis (e.g. apt-get install redis-server); these tests fail rather than skip without it.')
      }
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
  }

  /** Ends redis-server abruptly, as a crash would: clients see their connections drop. */
  async kill (): Promise<void> {
    await this.#end('SIGKILL')
  }

  async stop (): Promise<void> {
    await this.#end('SIGTERM')
  }

  /** Stops the server for good and removes its scratch directory. */
  async dispose (): Promise<void> {
    await this.stop()
    rmSync(this.#dir, { recursive: true, force: true })
  }

  async #end (signal: NodeJS.Signals): Promise<void> {
    const child = this.#child
    if (child === undefined) return
    this.#child = undefined
    if (child.pid !== undefined) await stopProcess(child, signal)
  }
}

/**
 * A redis-server of this test file's own: started before its first test, disposed after its
 * last. Returns a getter for it, to call inside tests.
 */
export function redisForThisFile (): () => RedisServer {
  let server: RedisServer | undefined
  beforeAll(async () => {
    server = await RedisServer.start()
  })
  afterAll(async () => {
    await server?.dispose()
  })
  return () => {
    if (server === undefined) throw new Error('the test file\'s redis-server has not started')
    return server
  }
}

/** A key prefix no other test uses, so tests share one Redis without seeing each other's keys. */
export function uniquePrefix (): string {
  return `t-${randomBytes(4).toString('hex')}:`
}
