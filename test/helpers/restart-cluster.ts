import { type ChildProcess, fork } from 'node:child_process'
import { join } from 'node:path'
import { Pool } from 'undici'
import { freePort } from './ports'
import { ROOT, stopProcess, TEST_KEY, waitFor } from './processes'
import type { Teardown } from './teardown'

export interface WorkerEnd {
  pid: number
  code: number | null
  signal: string | null
}

export interface Probe {
  pid: number
  role: string
  ok: boolean
  error?: string
}

interface Answer {
  type: string
  pids?: number[]
  workers?: unknown[]
}

/**
 * The node:cluster app of test/fixtures/restart-cluster.js in its own process tree, driven over
 * IPC: fork workers, SIGTERM several at the same instant, replace them, probe every worker.
 */
export class RestartCluster {
  readonly url: string
  readonly sharedPort: number
  readonly #child: ChildProcess
  #output = ''
  readonly #answers: Answer[] = []

  private constructor (child: ChildProcess, url: string, sharedPort: number) {
    this.#child = child
    this.url = url
    this.sharedPort = sharedPort
    child.stdout?.on('data', (chunk) => { this.#output += String(chunk) })
    child.stderr?.on('data', (chunk) => { this.#output += String(chunk) })
    child.on('message', (message: Answer) => this.#answers.push(message))
  }

  static async start (teardown: Teardown, workers: number, env: Record<string, string> = {}): Promise<{ cluster: RestartCluster, pids: number[] }> {
    const port = await freePort()
    const sharedPort = await freePort()
    const child = fork(join(ROOT, 'test', 'fixtures', 'restart-cluster.js'), [], {
      cwd: ROOT,
      env: { ...process.env, PORT: String(port), SHARED_STATE_PORT: String(sharedPort), SHARED_STATE_KEY: TEST_KEY, WORKERS: String(workers), ...env },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc']
    })
    teardown.add(() => stopProcess(child, 'SIGKILL'))
    const cluster = new RestartCluster(child, `http://127.0.0.1:${port}`, sharedPort)
    const ready = await cluster.#answer('ready')
    return { cluster, pids: ready.pids as number[] }
  }

  /** Every log line of the primary and its workers so far. */
  get output (): string {
    return this.#output
  }

  async fork (count: number): Promise<number[]> {
    this.#child.send({ type: 'fork', count })
    return (await this.#answer('forked')).pids as number[]
  }

  async sigterm (pids: number[]): Promise<WorkerEnd[]> {
    this.#child.send({ type: 'sigterm', pids })
    return (await this.#answer('exited')).workers as WorkerEnd[]
  }

  async replace (pids: number[]): Promise<{ pids: number[], workers: WorkerEnd[] }> {
    this.#child.send({ type: 'replace', pids })
    const answer = await this.#answer('replaced')
    return { pids: answer.pids as number[], workers: answer.workers as WorkerEnd[] }
  }

  async probe (): Promise<Probe[]> {
    this.#child.send({ type: 'probe' })
    return (await this.#answer('probed')).workers as Probe[]
  }

  /** The pid of the worker that logged it is the host now (the last to say so). */
  hostPid (): number {
    const hosts = [...this.#output.matchAll(/"pid":(\d+)[^\n]*shared state: host on/g)]
    return Number(hosts.at(-1)?.[1])
  }

  async #answer (type: string): Promise<Answer> {
    await waitFor(() => this.#answers.some((answer) => answer.type === type) || this.#child.exitCode !== null, 60000, `the cluster's ${type}`)
    const index = this.#answers.findIndex((answer) => answer.type === type)
    if (index < 0) throw new Error(`the cluster exited:\n${this.#output}`)
    return this.#answers.splice(index, 1)[0] as Answer
  }
}

/**
 * Increments on `lanes` connections until stopped; keeps every answer and every failure. The
 * teardown stops it too, so a test that fails before its own stop does not leave the lanes
 * spinning against a dead cluster (Jest would then never exit).
 */
export function incrementUntilStopped (url: string, teardown: Teardown, lanes = 4): { stop: () => Promise<{ answers: number[], failures: string[] }> } {
  const pool = new Pool(url, { connections: lanes, pipelining: 1, headersTimeout: 20000, bodyTimeout: 20000 })
  const answers: number[] = []
  const failures: string[] = []
  const load = { stopping: false }
  async function lane (): Promise<void> {
    while (!load.stopping) {
      try {
        const response = await pool.request({ method: 'GET', path: '/incr' })
        const body = await response.body.text()
        if (response.statusCode === 200) answers.push(Number(body))
        else failures.push(`${response.statusCode} ${body}`)
      } catch (error) {
        failures.push((error as Error).message)
      }
    }
  }
  const running = Promise.all(Array.from({ length: lanes }, lane))
  let stopped: Promise<{ answers: number[], failures: string[] }> | undefined
  const stop = (): Promise<{ answers: number[], failures: string[] }> => {
    stopped ??= (async () => {
      load.stopping = true
      await running
      await pool.close()
      return { answers, failures }
    })()
    return stopped
  }
  teardown.add(stop)
  return { stop }
}
