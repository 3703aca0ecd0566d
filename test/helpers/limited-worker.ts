import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { ROOT, stopProcess } from './processes'
import type { Teardown } from './teardown'
import { WorkerProcess } from './worker-process'

/**
 * A worker (test/fixtures/worker.js) whose files may not grow past `blocks` KiB: started through
 * `bash -c 'ulimit -f N; exec node ...'`, so a write past the limit fails with EFBIG, as a full
 * disk fails with ENOSPC (Node ignores SIGXFSZ, which would otherwise kill the process).
 */
export class LimitedWorker extends WorkerProcess {
  static async startLimited (teardown: Teardown, blocks: number, options: Record<string, unknown>): Promise<LimitedWorker> {
    const child = spawn('bash', ['-c', `ulimit -f ${blocks}; exec "$0" "$@"`, process.execPath, join(ROOT, 'test', 'fixtures', 'worker.js')], {
      cwd: ROOT,
      env: { ...process.env, SHARED_STATE_OPTIONS: JSON.stringify(options), LOG_LEVEL: 'info' },
      serialization: 'advanced',
      stdio: ['ignore', 'pipe', 'pipe', 'ipc']
    })
    teardown.add(() => stopProcess(child, 'SIGKILL'))
    const worker = new LimitedWorker(child)
    const first = await new Promise<{ type: string, role?: string, message?: string }>((resolve, reject) => {
      child.once('message', resolve)
      child.once('exit', (code) => reject(new Error(`worker exited with ${String(code)} before registering:\n${worker.output}`)))
    })
    if (first.type !== 'ready') throw new Error(`worker failed to register: ${String(first.message)}`)
    worker.role = first.role as string
    return worker
  }
}
