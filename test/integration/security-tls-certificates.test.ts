import { execFileSync } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from '../helpers/ports'
import { TEST_KEY } from '../helpers/processes'
import { Teardown } from '../helpers/teardown'
import { startFailure, startWorker } from '../helpers/worker-process'

// `tls: { cert, key, ca }`: mutual TLS with certificates made here by openssl. A worker whose
// certificate chains to another CA is refused.

const teardown = new Teardown()
afterEach(() => teardown.run())

interface Certificates { cert: string, key: string, ca: string }

/** A fresh CA, and one certificate it signed. */
async function makeCertificates (dir: string, name: string): Promise<Certificates> {
  const file = (suffix: string): string => join(dir, `${name}${suffix}`)
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
  execFileSync('openssl', ['req', '-x509', ...ec, '-keyout', file('-ca.key'), '-out', file('-ca.pem'), '-subj', `/CN=${name}-ca`, '-days', '1'], { stdio: 'ignore' })
  execFileSync('openssl', ['req', ...ec, '-keyout', file('.key'), '-out', file('.csr'), '-subj', `/CN=${name}`], { stdio: 'ignore' })
  execFileSync('openssl', ['x509', '-req', '-in', file('.csr'), '-CA', file('-ca.pem'), '-CAkey', file('-ca.key'), '-CAcreateserial', '-out', file('.pem'), '-days', '1'], { stdio: 'ignore' })
  const [cert, key, ca] = await Promise.all(['.pem', '.key', '-ca.pem'].map((suffix) => readFile(file(suffix), 'utf8')))
  return { cert, key, ca } as Certificates
}

test('with certificates, workers of one CA share the state and a worker of another CA is refused', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'shared-state-certs-'))
  teardown.add(() => rm(dir, { recursive: true, force: true }))
  const ours = await makeCertificates(dir, 'ours')
  const theirs = await makeCertificates(dir, 'theirs')
  const port = await freePort()
  const host = await startWorker(teardown, { port, key: TEST_KEY, tls: ours })
  const client = await startWorker(teardown, { port, key: TEST_KEY, tls: ours })
  expect([host.role, client.role]).toEqual(['host', 'client'])
  expect(await client.call('incr', 'n')).toBe(1)
  expect(await host.call('incr', 'n')).toBe(2)
  const stranger = await startFailure({ port, key: TEST_KEY, tls: theirs })
  expect(stranger.code).toBe('FST_SHARED_STATE_AUTH')
})
