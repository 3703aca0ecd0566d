import { type ChildProcess, fork } from 'node:child_process'
import { once } from 'node:events'
import { join } from 'node:path'
import { freePort } from './ports'

export const ROOT = join(__dirname, '..', '..')
export const TEST_KEY = 'test-key-0123456789abcdef'

/** Waits until `predicate` holds, polling; throws after `timeout` ms. No fixed sleeps in tests. */
export async function waitFor (predicate: () => boolean | Promise<boolean>, timeout = 10000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeout
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** Ends a child we started, by its pid, and waits for it to be gone. */
export async function stopProcess (child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = once(child, 'exit')
  child.kill(signal)
  const timer = setTimeout(() => child.kill('SIGKILL'), 10000)
  await exited
  clearTimeout(timer)
}

export interface RunningCluster {
  url: string
  /** The manager socket's port (SHARED_STATE_PORT), for a peer such as the inspect command. */
  sharedPort: number
  child: ChildProcess
  output: () => string
  stop: () => Promise<void>
}

/**
 * Runs the example app (`example-app/cluster.js`), or another cluster script that prints
 * 'ready:' the same way, in its own process tree, on free ports, and resolves once every worker
 * serves HTTP.
 */
export async function startCluster (env: Record<string, string> = {}, script = join(ROOT, 'example-app', 'cluster.js')): Promise<RunningCluster> {
  const port = await freePort()
  const sharedPort = Number(env.SHARED_STATE_PORT ?? await freePort())
  const child = fork(script, [], {
    cwd: ROOT,
    env: {
      ...process.env,
      PORT: String(port),
      SHARED_STATE_PORT: String(sharedPort),
      SHARED_STATE_KEY: TEST_KEY,
      WORKERS: '4',
      LOG_LEVEL: 'warn',
      ...env
    },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc']
  })
  let output = ''
  child.stdout?.on('data', (chunk) => { output += String(chunk) })
  child.stderr?.on('data', (chunk) => { output += String(chunk) })
  const cluster = {
    url: `http://127.0.0.1:${port}`,
    sharedPort,
    child,
    output: () => output,
    stop: () => stopProcess(child)
  }
  try {
    await waitFor(() => output.includes('ready:') || child.exitCode !== null, 30000, 'the cluster to be ready')
  } catch (error) {
    await cluster.stop()
    throw error
  }
  if (child.exitCode !== null) throw new Error(`the cluster exited early:\n${output}`)
  return cluster
}
