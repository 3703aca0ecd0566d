import { once } from 'node:events'
import { waitFor } from './processes'
import type { Teardown } from './teardown'
import { type CallFailure, launch, WorkerProcess } from './worker-process'

export interface Incremented {
  /** Calls the loop made (it stops early on SIGTERM). */
  issued: number
  /** Every acknowledged answer, in the order they came. */
  answers: number[]
  failures: CallFailure[]
}

interface Message {
  type: string
}

/**
 * A worker in its own process (test/fixtures/failover-worker.js), driven over IPC like
 * WorkerProcess, that also runs a bounded loop of increments and, on SIGTERM, closes its app
 * gracefully, as a worker in a rolling restart does.
 */
export class FailoverWorker extends WorkerProcess {
  /** Answers acknowledged so far by the increment loop. */
  acked = 0
  #closed = false
  #incremented: Incremented | undefined

  protected override receive (message: Message & Incremented): void {
    if (message.type === 'acked') this.acked++
    else if (message.type === 'incremented') this.#incremented = { issued: message.issued, answers: message.answers, failures: message.failures }
    else if (message.type === 'closed') this.#closed = true
  }

  static override start (options: Record<string, unknown>, env: Record<string, string> = {}): Promise<FailoverWorker> {
    return launch('failover-worker.js', options, env, (child) => new FailoverWorker(child))
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
