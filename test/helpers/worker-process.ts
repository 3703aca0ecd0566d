import { type ChildProcess, fork } from 'node:child_process'
import { join } from 'node:path'
import { ROOT, stopProcess } from './processes'
import type { Teardown } from './teardown'

export interface CallFailure {
  code: string
  message: string
}

interface Answer {
  type: 'answer'
  id: number
  ok: boolean
  result?: unknown
  code?: string
  message?: string
}

export interface WorkerEnv {
  /** Serve HTTP on this port too (the fixture's `/get/:key` and `/incr/:key`). */
  HTTP_PORT?: string
  LOG_LEVEL?: string
  [name: string]: string | undefined
}

/**
 * A worker in its own process (test/fixtures/worker.js), driven over IPC. IPC uses structured
 * clone, so Maps, Dates, BigInts and typed arrays cross it intact.
 */
export class WorkerProcess {
  readonly child: ChildProcess
  readonly events: unknown[] = []
  role = ''
  #output = ''
  readonly #pending = new Map<number, (answer: Answer) => void>()
  #nextId = 1

  protected constructor (child: ChildProcess) {
    this.child = child
    child.stdout?.on('data', (chunk) => { this.#output += String(chunk) })
    child.stderr?.on('data', (chunk) => { this.#output += String(chunk) })
    child.on('message', (message: { type: string, id?: number, event?: unknown }) => {
      if (message.type === 'answer') this.#pending.get(message.id as number)?.(message as Answer)
      else this.receive(message)
    })
    // A call still open when the worker dies (a test killed it) would never settle otherwise.
    child.once('exit', (code, signal) => {
      const gone = { type: 'answer' as const, ok: false, code: 'WORKER_EXITED', message: `worker exited (${String(signal ?? code)})` }
      for (const [id, settle] of [...this.#pending]) settle({ ...gone, id })
    })
  }

  get pid (): number {
    return this.child.pid as number
  }

  /** Everything the worker wrote to stdout and stderr (its log lines) so far. */
  get output (): string {
    return this.#output
  }

  get exited (): boolean {
    return this.child.exitCode !== null || this.child.signalCode !== null
  }

  /** A message other than an answer; a fixture with messages of its own handles them here. */
  protected receive (message: { type: string, event?: unknown }): void {
    if (message.type === 'event') this.events.push(message.event)
  }

  /**
   * Starts a worker (test/fixtures/worker.js, or another fixture built on ipc-worker.js); resolves
   * once it is host or client, rejects with the registration error.
   */
  static start (options: Record<string, unknown>, env: WorkerEnv = {}, fixture = 'worker.js'): Promise<WorkerProcess> {
    return launch(fixture, options, env, (child) => new WorkerProcess(child))
  }

  /** Calls `app.shared[method](...args)` in the worker. */
  call<T = unknown> (method: string, ...args: unknown[]): Promise<T> {
    const id = this.#nextId++
    return new Promise((resolve, reject) => {
      this.#pending.set(id, (answer) => {
        this.#pending.delete(id)
        if (answer.ok) resolve(answer.result as T)
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

  kill (signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    return stopProcess(this.child, signal)
  }

  stop (): Promise<void> {
    return stopProcess(this.child)
  }
}

/**
 * Forks `fixture` (a file in test/fixtures) with the plugin's options, and resolves with the
 * worker once it is host or client; rejects with the registration error.
 */
export async function launch<W extends WorkerProcess> (fixture: string, options: Record<string, unknown>, env: WorkerEnv,
  make: (child: ChildProcess) => W): Promise<W> {
  const child = fork(join(ROOT, 'test', 'fixtures', fixture), [], {
    cwd: ROOT,
    env: { ...process.env, SHARED_STATE_OPTIONS: JSON.stringify(options), ...env },
    serialization: 'advanced',
    // Piped, not inherited: a test reads the logs it cares about, and the rest stays quiet.
    stdio: ['ignore', 'pipe', 'pipe', 'ipc']
  })
  const worker = make(child)
  const first = await new Promise<{ type: string, role?: string, code?: string, message?: string }>((resolve, reject) => {
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

/**
 * Starts a worker whose stop is registered with `teardown` before it even exists, so a worker
 * still starting when its test fails is stopped too.
 */
export function startWorker (teardown: Teardown, options: Record<string, unknown>, env: WorkerEnv = {}): Promise<WorkerProcess> {
  const started = WorkerProcess.start(options, env)
  teardown.add(async () => {
    const worker = await started.catch(() => undefined)
    await worker?.stop()
  })
  return started
}

/** Resolves with the registration error's code and message; fails if the worker started. */
export async function startFailure (options: Record<string, unknown>, env: WorkerEnv = {}): Promise<CallFailure> {
  let worker: WorkerProcess
  try {
    worker = await WorkerProcess.start(options, env)
  } catch (error) {
    return { code: (error as CallFailure).code, message: (error as Error).message }
  }
  await worker.stop()
  throw new Error(`the worker registered as ${worker.role} where a failure was expected`)
}
