import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { getOnce } from '../helpers/http'
import { RestartCluster } from '../helpers/restart-cluster'
import { Teardown } from '../helpers/teardown'

// A host that wins the election binds the port first and then opens its state: with a large
// persisted log that takes a while. Two workers start together on such a log: one opens it, the
// other reaches the port meanwhile and must wait and become its client, not fail registration.
// 300,000 keys take longer to open than the local socket's greeting wait (1 s), so the waiting
// worker also falls back to the TCP port and waits there.

const teardown = new Teardown()
afterEach(() => teardown.run())

const KEYS = 300000

test('a worker that registers while the host opens a large persisted state waits, then connects', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'restart-opening-'))
  teardown.add(() => rm(dir, { recursive: true, force: true }))
  const env = { PERSIST_FILE: join(dir, 'state.log') }

  const first = await RestartCluster.start(teardown, 1, env)
  expect((await getOnce(first.cluster.url, `/fill/${KEYS}/100`)).body).toBe('filled')
  const [closed] = await first.cluster.sigterm(first.pids)
  expect(closed?.code).toBe(0)

  const { cluster, pids } = await RestartCluster.start(teardown, 2, env)
  // A worker that failed to register exits, and is reported with a negative pid.
  expect({ pids: pids.every((pid) => pid > 0), output: cluster.output }).toEqual({ pids: true, output: cluster.output })
  const probes = await cluster.probe()
  expect(probes.map((probe) => probe.role).sort()).toEqual(['client', 'host'])
  expect(Number((await getOnce(cluster.url, '/size')).body)).toBe(KEYS + 1)
}, 120000)
