import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { join } from 'node:path'
import { ROOT } from './processes'
import type { Teardown } from './teardown'

export const INSPECT = join(ROOT, 'dist', 'cli', 'inspect.js')

export interface InspectRun {
  /** The command's own pid: it connects as a peer, and must not list itself as a worker. */
  pid: number
  code: number | null
  stdout: string
  stderr: string
}

/** Runs the built inspect command (`dist/cli/inspect.js`) with the key in SHARED_STATE_KEY. */
export async function runInspect (teardown: Teardown, args: string[], key: string): Promise<InspectRun> {
  const child = spawn(process.execPath, [INSPECT, ...args], {
    cwd: ROOT,
    env: { ...process.env, SHARED_STATE_KEY: key },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  teardown.add(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk) => { stdout += String(chunk) })
  child.stderr.on('data', (chunk) => { stderr += String(chunk) })
  const [code] = await once(child, 'exit') as [number | null]
  return { pid: child.pid as number, code, stdout, stderr }
}
