import { type FailoverWorker, type Incremented, startFailoverWorker } from '../helpers/failover-worker'
import { oneTo } from '../helpers/load'
import { freePort } from '../helpers/ports'
import { TEST_KEY, waitFor } from '../helpers/processes'
import { Teardown } from '../helpers/teardown'

// A rolling restart under load, without persist: four plain processes increment one counter,
// 4,000 increments in total, while each original process in turn is sent SIGTERM and replaced by
// a new one that carries on with what it left undone. A terminated process stops issuing, lets its
// calls in flight complete and closes; every host among them hands the state to the next. Nothing
// may be lost and no call may fail.

const teardown = new Teardown()
afterEach(() => teardown.run())

const WORKERS = 4
const PER_WORKER = 1000
// Each process increments on 4 lanes, pausing 10 ms between calls on a lane, so the load is still
// running while the originals are restarted one by one (the pace is load shaping, not a wait).
const LANES = 4
const PACE = 10
// An original is restarted once it has this many answers: the restart lands in the middle of its
// work, never before it started.
const STARTED = 50

test('SIGTERM each worker in turn while 4,000 increments run: the counter equals the acknowledged increments, none failed', async () => {
  const options = { port: await freePort(), key: TEST_KEY }
  const originals: FailoverWorker[] = []
  for (let i = 0; i < WORKERS; i++) originals.push(await startFailoverWorker(teardown, options))
  expect(originals.map((worker) => worker.role)).toEqual(['host', 'client', 'client', 'client'])
  for (const worker of originals) worker.increment('counter', PER_WORKER, LANES, PACE)

  const outcomes: Incremented[] = []
  const replacements: FailoverWorker[] = []
  for (const original of originals) {
    await waitFor(() => original.acked >= STARTED, 20000, `worker ${original.pid} to get going`)
    await original.terminate()
    const outcome = await original.incremented()
    outcomes.push(outcome)
    // The replacement does what the original left undone, so 4,000 are attempted in all.
    const replacement = await startFailoverWorker(teardown, options)
    replacement.increment('counter', PER_WORKER - outcome.issued, LANES, PACE)
    replacements.push(replacement)
  }
  for (const replacement of replacements) outcomes.push(await replacement.incremented())

  // The first original hosted, so the state was handed over under load at least once (later
  // originals host or not, depending on who took over); one of the replacements hosts now.
  const roles = await Promise.all(replacements.map((worker) => worker.call<string>('role')))
  expect(roles.filter((role) => role === 'host')).toHaveLength(1)

  expect(outcomes.flatMap((outcome) => outcome.failures)).toEqual([])
  expect(outcomes.reduce((sum, outcome) => sum + outcome.issued, 0)).toBe(WORKERS * PER_WORKER)
  const answers = outcomes.flatMap((outcome) => outcome.answers).sort((a, b) => a - b)
  // Each increment acknowledged once, with its own number: no answer lost, repeated or skipped.
  expect(answers).toEqual(oneTo(WORKERS * PER_WORKER))
  expect(await (replacements[0] as FailoverWorker).call('get', 'counter')).toBe(answers.length)
})
