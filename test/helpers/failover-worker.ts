import { type ChildProcess, fork } from 'node:child_process'
import { once } from 'node:events'
import { join } from 'node:path'
import { ROOT, stopProcess, waitFor } from './processes'
import type { Teardown } from './teardown'
import type { CallFailure } from './worker-process'

export interface Incremented {
  /** Calls the loop made (it stops early on SIGTERM). */
  issued: number
  /** Every acknowledged answer, in the order they came. */
  answers: number[]
  failures: CallFailure[]
}

interface Message {
  type: string
  id?: number
  ok?: boolean
  result?: unknown
  code?: string
  message?: string
  role?: string
  answer?: number
}

/**
 * A worker in its own process (test/fixtures/failover-worker.js), driven over IPC: it calls
 * `app.shared`, takes and releases locks, runs a bounded loop of increments, and on SIGTERM closes
 * its app gracefully, as a worker in a rolling restart does.
 */
export class FailoverWorker {
  readonly child: ChildProcess
  role = ''
  /** Answers acknowledged so far by the increment loop. */
  acked = 0
  #output = ''
  #closed = false
  #incremented: Incremented | undefined
  readonly #pending = new Map<number, (message: Message) => void>()
  #nextId = 1

  private constructor (child: ChildProcess) {
    this.child = child
    child.stdout?.on('data', (chunk) => { this.#output += String(chunk) })
    child.stderr?.on('data', (chunk) => { this.#output += String(chunk) })
    child.on('message', (message: Message & Incremented) => {
      if (message.type === 'answer') this.#pending.get(message.id as number)?.(message)
      else if (message.type === 'acked') this.acked++
      else if (message.type === 'incremented') this.#incremented = { issued: message.issued, answers: message.answers, failures: message.failures }
      else if (message.type === 'closed') this.#closed = true
    })
    // A call still open when the worker dies would never settle otherwise.
    child.once('exit', (code, signal) => {
      const gone = { type: 'answer', ok: false, code: 'WORKER_EXITED', message: `worker exited (${String(signal ?? code)})` }
      for (const [id, settle] of [...this.#pending]) settle({ ...gone, id })
    })
  }

  get pid (): number {
    return this.child.pid as number
  }

  get output (): string {
    return this.#output
  }

  get exited (): boolean {
    return this.child.exitCode !== null || this.child.signalCode !== null
  }

  /** Starts a worker; resolves once it is host or client, rejects with the registration error. */
  static async start (options: Record<string, unknown>, env: Record<string, string> = {}): Promise<FailoverWorker> {
    const child = fork(join(ROOT, 'test', 'fixtures', 'failover-worker.js'), [], {
      cwd: ROOT,
      env: { ...process.env, SHARED_STATE_OPTIONS: JSON.stringify(options), ...env },
      serialization: 'advanced',
      stdio: ['ignore', 'pipe', 'pipe', 'ipc']
    })
    const worker = new FailoverWorker(child)
    const first = await new Promise<Message>((resolve, reject) => {
      child.once('message', resolve)
      child.once('exit', (code) => reject(new Error(`worker exited with ${String(code)} before registering:\n${worker.output}`)))
    })
    if (first.type !== 'ready') {
      await stopProcess(child)
      throw Object.assign(new Error(first.message), { code: first.code, output: worker.output })
    }
    worker.role = first.role as string
    return worker
  }

  /** Calls `app.shared[method](...args)` in the worker ('acquire' and 'release' take locks). */
  call<T = unknown> (method: string, ...args: unknown[]): Promise<T> {
    const id = this.#nextId++
    return new Promise((resolve, reject) => {
      this.#pending.set(id, (answer) => {
        this.#pending.delete(id)
        if (answer.ok === true) resolve(answer.result as T)
        else reject(Object.assign(new Error(answer.message), { code: answer.code }))
      })
      this.child.send({ type: 'call', id, method, args })
    })
  }

  /** Like call(), but resolves with the failure's code and message; fails if the call succeeded. */
  async failure (method: string, ...args: unknown[]): Promise<CallFailure> {
    try {
      await this.call(method, ...args)
    } catch (error) {
      return { code: (error as CallFailure).code, message: (error as Error).message }
    }
    throw new Error(`${method} succeeded where a failure was expected`)
  }

  /** Starts the increment loop; `incremented()` resolves with its outcome. */
  increment (key: string, count: number, lanes: number, pace: number): void {
    this.child.send({ type: 'increment', key, count, lanes, pace })
  }

  /** Waits for the increment loop to end (its count reached, or stopped by SIGTERM). */
  async incremented (timeout = 60000): Promise<Incremented> {
    await waitFor(() => this.#incremented !== undefined || this.exited, timeout, `the increments of worker ${this.pid}`)
    if (this.#incremented === undefined) throw new Error(`worker ${this.pid} exited before it reported its increments:\n${this.output}`)
    return this.#incremented
  }

  /**
   * SIGTERM, as a rolling restart sends it: resolves once the worker closed its app and exited
   * by itself; fails if it had to be killed or exited without closing.
   */
  async terminate (timeout = 20000): Promise<void> {
    if (this.exited) throw new Error(`worker ${this.pid} had already exited`)
    const exited = once(this.child, 'exit')
    this.child.kill('SIGTERM')
    await waitFor(() => this.exited, timeout, `worker ${this.pid} to close after SIGTERM`)
    await exited
    if (!this.#closed || this.child.exitCode !== 0) {
      throw new Error(`worker ${this.pid} did not close cleanly (exit ${String(this.child.exitCode ?? this.child.signalCode)}):\n${this.output}`)
    }
  }

  kill (signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    return stopProcess(this.child, signal)
  }
}

/** Starts a worker whose stop is registered with `teardown` before it even exists. */
export function startFailoverWorker (teardown: Teardown, options: Record<string, unknown>, env: Record<string, string> = {}): Promise<FailoverWorker> {
  const started = FailoverWorker.start(options, env)
  teardown.add(async () => {
    const worker = await started.catch(() => undefined)
    await worker?.kill('SIGKILL')
  })
  return started
}
