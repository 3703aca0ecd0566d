import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { FailoverWorker } from './failover-worker'
import type { KeyOp, Operation } from './linearizability'
import { waitFor } from './processes'
import type { Teardown } from './teardown'
import { launch } from './worker-process'

export interface RecordSettings {
  /** The history file this worker appends to. */
  file: string
  keys: string[]
  /** Concurrent callers in the worker. */
  clients: number
  /** Calls per caller at most: the run stays bounded even if nobody says stop. */
  maxOps: number
  /** Each caller pauses up to this many ms between calls, so the load spans the faults. */
  pace: number
}

/**
 * A worker (test/fixtures/history-worker.js) that records a history of random calls on a few
 * keys for the linearizability checker; on SIGTERM it closes gracefully like a FailoverWorker.
 */
export class HistoryWorker extends FailoverWorker {
  /** Calls answered so far. */
  answered = 0
  #recorded = false

  protected override receive (message: { type: string, answered?: number }): void {
    if (message.type === 'progress') this.answered = message.answered as number
    else if (message.type === 'recorded') this.#recorded = true
    else super.receive(message as Parameters<FailoverWorker['receive']>[0])
  }

  static override start (options: Record<string, unknown>, env: Record<string, string> = {}): Promise<HistoryWorker> {
    return launch('history-worker.js', options, env, (child) => new HistoryWorker(child))
  }

  /** True once its callers made all their calls, or were stopped and got every answer. */
  get finished (): boolean {
    return this.#recorded
  }

  record (settings: RecordSettings): void {
    this.child.send({ type: 'record', ...settings })
  }

  /** Stops issuing; resolves once every call in flight was answered or failed. */
  async stopRecording (timeout = 30000): Promise<void> {
    this.child.send({ type: 'stop' })
    await waitFor(() => this.#recorded || this.exited, timeout, `worker ${this.pid} to finish its calls`)
  }
}

export function startHistoryWorker (teardown: Teardown, options: Record<string, unknown>): Promise<HistoryWorker> {
  const started = HistoryWorker.start(options)
  teardown.add(async () => {
    const worker = await started.catch(() => undefined)
    await worker?.kill('SIGKILL')
  })
  return started
}

interface Line {
  t: 'I' | 'R' | 'F'
  c: string
  n: number
  k?: string
  op?: KeyOp
  at: string
  r?: unknown
}

/**
 * Every call recorded in the history files of `dir`, with times in ns from the first call. A call
 * with no answer line (it failed, or its worker was killed) has no response: maybe applied.
 */
export async function readHistories (dir: string): Promise<Operation[]> {
  const calls = new Map<string, { key: string, op: KeyOp, invoke: bigint, response?: bigint, result?: unknown }>()
  for (const name of (await readdir(dir)).filter((entry) => entry.startsWith('history-'))) {
    const text = await readFile(join(dir, name), 'utf8')
    for (const raw of text.split('\n')) {
      // A worker killed mid-write leaves at most a torn last line; its call counts as unanswered.
      let line: Line
      try {
        line = JSON.parse(raw) as Line
      } catch {
        continue
      }
      const id = `${line.c}/${line.n}`
      if (line.t === 'I') calls.set(id, { key: line.k as string, op: line.op as KeyOp, invoke: BigInt(line.at) })
      else if (line.t === 'R') Object.assign(calls.get(id) ?? {}, { response: BigInt(line.at), result: line.r })
    }
  }
  let base: bigint | undefined
  for (const call of calls.values()) if (base === undefined || call.invoke < base) base = call.invoke
  const ns = (at: bigint): number => Number(at - (base as bigint))
  return [...calls.values()].map((call) => ({
    key: call.key,
    op: call.op,
    invoke: ns(call.invoke),
    response: call.response === undefined ? undefined : ns(call.response),
    result: call.result
  }))
}
