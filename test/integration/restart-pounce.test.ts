import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from '../helpers/ports'
import { TEST_KEY, waitFor } from '../helpers/processes'
import { Teardown } from '../helpers/teardown'
import { startWorker, WorkerProcess } from '../helpers/worker-process'

// A worker that starts in the instant between the closing host freeing the port and its successor
// binding it must connect to the successor, never host an empty copy beside the handed-over state.

const teardown = new Teardown()
afterEach(() => teardown.run())

const ROUNDS = 5

test('a worker starting the instant a closing host frees the port connects to the successor; the counter goes on', async () => {
  const port = await freePort()
  const options = { port, key: TEST_KEY }
  const dir = mkdtempSync(join(tmpdir(), 'pounce-'))
  teardown.add(() => rmSync(dir, { recursive: true, force: true }))
  let host = await startWorker(teardown, options)
  let successor = await startWorker(teardown, options)
  let expected = 100
  let pounced = 0
  await host.call('set', 'counter', expected)
  for (let round = 0; round < ROUNDS; round++) {
    const armed = join(dir, `armed-${round}`)
    const go = join(dir, `go-${round}`)
    const started = WorkerProcess.start(options, { POUNCE_PORT: String(port), POUNCE_ARMED_FILE: armed, POUNCE_GO_FILE: go }, 'pouncing-worker.js')
    teardown.add(async () => { await (await started.catch(() => undefined))?.stop() })
    await waitFor(() => existsSync(armed), 10000, 'the pouncing worker to watch the port')
    await host.call('close')
    writeFileSync(go, '')
    const pouncer = await started
    if (await pouncer.call<boolean>('pounced')) pounced++
    expect(pouncer.role).toBe('client')
    expect(await successor.call('role')).toBe('host')
    expected++
    expect(await pouncer.call('incr', 'counter')).toBe(expected)
    await host.stop()
    // The newest worker takes the state next time.
    host = successor
    successor = pouncer
  }
  // The probes are fast enough to see the gap in most rounds; a round that missed it still checks
  // that the state went on.
  expect(pounced).toBeGreaterThan(0)
})
