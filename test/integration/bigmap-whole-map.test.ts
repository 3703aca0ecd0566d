import { freePort } from '../helpers/ports'
import { TEST_KEY, waitFor } from '../helpers/processes'
import { Teardown } from '../helpers/teardown'
import { launch, WorkerProcess } from '../helpers/worker-process'

// Whole-map reads of a large map across real processes: the host answers them a page at a time,
// so the read arrives complete, though it is several times the frame limit, and another worker's
// get is answered while it runs.

const teardown = new Teardown()
afterEach(() => teardown.run())

const KEYS = 200_000
// The entries of KEYS keys take about 3 MB on the wire: one reply could not carry them.
const MAX_FRAME_BYTES = 1024 * 1024

interface TimedRead { start: number, end: number, count: number, distinct: number, wrongValues: number }

/** A worker running test/fixtures/bigmap-worker.js. */
class BigMapWorker extends WorkerProcess {
  static override start (options: Record<string, unknown>): Promise<BigMapWorker> {
    return launch('bigmap-worker.js', options, {}, (child) => new BigMapWorker(child))
  }
}

function startWorker (options: Record<string, unknown>): Promise<WorkerProcess> {
  const started = BigMapWorker.start(options)
  teardown.add(async () => { await (await started.catch(() => undefined))?.stop() })
  return started
}

/** Runs `read` in one worker while another gets a key over and over; the gets made meanwhile. */
async function whileProbed (prober: WorkerProcess, read: () => Promise<TimedRead>): Promise<{ read: TimedRead, inside: number }> {
  const probing = prober.call<Array<[number, number]>>('probe', 'probe')
  const result = await read()
  await prober.call('stopProbe')
  const gets = await probing
  return { read: result, inside: gets.filter(([sent, answered]) => sent >= result.start && answered <= result.end).length }
}

test(`entries and keys of ${KEYS} keys arrive whole while another worker's gets are answered`, async () => {
  const port = await freePort()
  const options = { port, key: TEST_KEY, maxFrameBytes: MAX_FRAME_BYTES }
  const host = await startWorker(options)
  const reader = await startWorker(options)
  const prober = await startWorker(options)
  expect([host.role, reader.role, prober.role]).toEqual(['host', 'client', 'client'])
  await host.call('fill', 'big:', KEYS)
  await host.call('set', 'probe', 'here')

  const entries = await whileProbed(prober, () => reader.call<TimedRead>('timedRead', 'entries', 'big:'))
  expect(entries.read).toMatchObject({ count: KEYS, distinct: KEYS, wrongValues: 0 })
  expect(entries.inside).toBeGreaterThan(0)

  const keys = await whileProbed(prober, () => reader.call<TimedRead>('timedRead', 'keys', 'big:'))
  expect(keys.read).toMatchObject({ count: KEYS, distinct: KEYS })
  expect(keys.inside).toBeGreaterThan(0)

  // The host worker's own whole-map read takes turns with the other workers too.
  const local = await whileProbed(prober, () => host.call<TimedRead>('timedRead', 'entries', 'big:'))
  expect(local.read).toMatchObject({ count: KEYS, distinct: KEYS, wrongValues: 0 })
  expect(local.inside).toBeGreaterThan(0)

  expect(await reader.call('size')).toBe(KEYS + 1)
  await reader.call('clear')
  expect(await prober.call('size')).toBe(0)
  expect(await prober.call('keys', 'big:')).toEqual([])
})

test(`a host that closes hands all ${KEYS} keys to its successor, in parts`, async () => {
  const port = await freePort()
  const options = { port, key: TEST_KEY, maxFrameBytes: MAX_FRAME_BYTES }
  const host = await startWorker(options)
  const successor = await startWorker(options)
  await host.call('fill', 'big:', KEYS)
  await host.call('close')
  await waitFor(async () => await successor.call('role') === 'host', 20000, 'the successor to host')
  const read = await successor.call<TimedRead>('timedRead', 'entries', 'big:')
  expect(read).toMatchObject({ count: KEYS, distinct: KEYS, wrongValues: 0 })
})
