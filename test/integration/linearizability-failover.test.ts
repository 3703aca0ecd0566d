import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { type HistoryWorker, readHistories, startHistoryWorker } from '../helpers/history-worker'
import { checkHistory } from '../helpers/linearizability'
import { freePort } from '../helpers/ports'
import { TEST_KEY, waitFor } from '../helpers/processes'
import { Teardown } from '../helpers/teardown'

// Four worker processes, four concurrent callers each, random get / set / incr / compareAndSet /
// delete on a few keys, every call's start and answer on the machine's monotonic clock, while
// the host is (a) killed with SIGKILL again and again under persist with fsync 'always', (b)
// closed gracefully again and again, (c) paused with SIGSTOP past the call timeout. Whatever
// happens, the history must be linearizable: every answer explained by one order of the calls
// that respects real time. A call that failed, or died with its worker, may or may not have
// taken effect.

const teardown = new Teardown()
afterEach(() => teardown.run())

const WORKERS = 4
const KEYS = ['a', 'b', 'c']
const FAULTS = 3
// A kill -9 catches a change waiting for its fsync only now and then: more of them.
const KILLS = 6
// Calls every worker answers between two faults: each fault lands on a serving host under load.
const BETWEEN_FAULTS = 60

interface Run {
  workers: HistoryWorker[]
  options: Record<string, unknown>
  dir: string
}

async function setUp (extra: Record<string, unknown> = {}): Promise<Run> {
  const dir = await mkdtemp(join(tmpdir(), 'shared-state-linearizability-'))
  teardown.add(() => rm(dir, { recursive: true, force: true }))
  const options = { port: await freePort(), key: TEST_KEY, timeout: 5000, ...extra }
  const workers: HistoryWorker[] = []
  for (let i = 0; i < WORKERS; i++) workers.push(await startRecording({ options, dir, workers }))
  expect(workers[0]?.role).toBe('host')
  return { workers, options, dir }
}

async function startRecording (run: Run): Promise<HistoryWorker> {
  const worker = await startHistoryWorker(teardown, run.options)
  worker.record({ file: join(run.dir, `history-${worker.pid}.jsonl`), keys: KEYS, clients: 4, maxOps: 400, pace: 8 })
  return worker
}

/** Waits until every worker still calling has answered `count` more calls. */
async function progress (workers: HistoryWorker[], count = BETWEEN_FAULTS): Promise<void> {
  const live = workers.filter((worker) => !worker.exited && !worker.finished)
  const targets = live.map((worker) => worker.answered + count)
  await waitFor(() => live.every((worker, i) => worker.exited || worker.finished || worker.answered >= (targets[i] as number)),
    30000, 'the workers to make progress')
}

async function hostOf (workers: HistoryWorker[]): Promise<HistoryWorker> {
  let host: HistoryWorker | undefined
  await waitFor(async () => {
    const live = workers.filter((worker) => !worker.exited)
    const roles = await Promise.all(live.map(async (worker) => await worker.call<string>('role').catch(() => '')))
    host = live[roles.indexOf('host')]
    return host !== undefined
  }, 20000, 'a host')
  return host as HistoryWorker
}

/** Stops the load, checks the history, and returns how many calls it held. */
async function finish (run: Run): Promise<{ calls: number, unanswered: number }> {
  await Promise.all(run.workers.filter((worker) => !worker.exited).map(async (worker) => await worker.stopRecording()))
  const history = await readHistories(run.dir)
  const verdict = checkHistory(history)
  expect(verdict).toEqual({ ok: true, violations: [], undecided: [] })
  return { calls: history.length, unanswered: history.filter((call) => call.response === undefined).length }
}

test('SIGKILL of the host, again and again, under persist with fsync always: linearizable', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'shared-state-log-'))
  teardown.add(() => rm(dir, { recursive: true, force: true }))
  const run = await setUp({ persist: { file: join(dir, 'state.log'), fsync: 'always' } })
  for (let fault = 0; fault < KILLS; fault++) {
    await progress(run.workers)
    const host = await hostOf(run.workers)
    await host.kill('SIGKILL')
    run.workers.push(await startRecording(run))
  }
  await progress(run.workers)
  const { calls, unanswered } = await finish(run)
  expect(calls).toBeGreaterThan(WORKERS * BETWEEN_FAULTS * (KILLS + 1))
  // Only the killed hosts' own calls in flight go unanswered; the others were resent.
  expect(unanswered).toBeLessThanOrEqual(KILLS * 4)
})

test('graceful handovers, again and again: linearizable, no call fails', async () => {
  const run = await setUp()
  for (let fault = 0; fault < FAULTS; fault++) {
    await progress(run.workers)
    const host = await hostOf(run.workers)
    await host.terminate()
    run.workers.push(await startRecording(run))
  }
  await progress(run.workers)
  const { unanswered } = await finish(run)
  expect(unanswered).toBe(0)
})

test('a host paused with SIGSTOP past the call timeout, again and again: linearizable', async () => {
  const run = await setUp({ timeout: 500 })
  for (let fault = 0; fault < FAULTS; fault++) {
    await progress(run.workers)
    const host = await hostOf(run.workers)
    process.kill(host.pid, 'SIGSTOP')
    teardown.add(() => { if (!host.exited) process.kill(host.pid, 'SIGCONT') })
    // The pause is the fault: long enough for the other workers' calls to time out.
    await sleep(800)
    process.kill(host.pid, 'SIGCONT')
  }
  await progress(run.workers)
  await finish(run)
})
