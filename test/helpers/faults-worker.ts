import type { Teardown } from './teardown'
import { launch, WorkerProcess, type WorkerEnv } from './worker-process'

/**
 * A worker running test/fixtures/faults-worker.js: worker.js's calls, plus blocking its own event
 * loop, its heap after a full GC, bounded loops of calls, rate-limit and session stores.
 */
export class FaultsWorker extends WorkerProcess {
  static override start (options: Record<string, unknown>, env: WorkerEnv = {}): Promise<FaultsWorker> {
    return launch('faults-worker.js', options, env, (child) => new FaultsWorker(child))
  }

  /** The heap in use after a full GC, in bytes. */
  heap (): Promise<number> {
    return this.call<number>('heap')
  }
}

/** Starts one, its kill registered with `teardown` before it even exists. */
export function startFaultsWorker (teardown: Teardown, options: Record<string, unknown>, env: WorkerEnv = {}): Promise<FaultsWorker> {
  const started = FaultsWorker.start(options, env)
  teardown.add(async () => {
    const worker = await started.catch(() => undefined)
    await worker?.kill('SIGKILL')
  })
  return started
}
