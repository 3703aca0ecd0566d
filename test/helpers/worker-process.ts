import { type ChildProcess, fork } from 'node:child_process'
import { join } from 'node:path'
import { ROOT, stopProcess } from './processes'

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

/**
 * A worker in its own process (test/fixtures/worker.js), driven over IPC. IPC uses structured
 * clone, so Maps, Dates, BigInts and typed arrays cross it intact.
 */
export class WorkerProcess {
  readonly child: ChildProcess
  readonly events: unknown[] = []
  role = ''
  readonly #pending = new Map<number, (answer: Answer) => void>()
  #nextId = 1

  private constructor (child: ChildProcess) {
    this.child = child
    child.on('message', (message: { type: string, id?: number, event?: unknown }) => {
      if (message.type === 'answer') this.#pending.get(message.id as number)?.(message as Answer)
      if (message.type === 'event') this.events.push(message.event)
    })
  }

  get pid (): number {
    return this.child.pid as number
  }

  /** Starts a worker; resolves once it is host or client, rejects with the registration error. */
  static async start (options: Record<string, unknown>, env: Record<string, string> = {}): Promise<WorkerProcess> {
    const child = fork(join(ROOT, 'test', 'fixtures', 'worker.js'), [], {
      cwd: ROOT,
      env: { ...process.env, SHARED_STATE_OPTIONS: JSON.stringify(options), ...env },
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc']
    })
    const worker = new WorkerProcess(child)
    const first = await new Promise<{ type: string, role?: string, code?: string, message?: string }>((resolve, reject) => {
      child.once('message', resolve)
      child.once('exit', (code) => reject(new Error(`worker exited with ${String(code)} before registering`)))
    })
    if (first.type !== 'ready') {
      await stopProcess(child)
      throw Object.assign(new Error(first.message), { code: first.code })
    }
    worker.role = first.role as string
    return worker
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
