import { join } from 'node:path'
import { getJson, getOnce } from '../helpers/http'
import { runInspect } from '../helpers/inspect'
import { ROOT, type RunningCluster, startCluster, TEST_KEY, waitFor } from '../helpers/processes'
import { Teardown } from '../helpers/teardown'

// @fastify/session with the package's store on a node:cluster: the session one worker creates is
// read by the others, and it lives as long as its cookie's max age, not longer.

const FIXTURE = join(ROOT, 'test', 'fixtures', 'ecosystem-cluster.js')

const teardown = new Teardown()
afterEach(() => teardown.run())

async function cluster (env: Record<string, string>): Promise<RunningCluster> {
  const started = await startCluster(env, FIXTURE)
  teardown.add(() => started.stop())
  return started
}

interface Login { pid: number, sessionId: string, cookie: string }

/** GET /login on a fresh connection: the worker, the session id and the cookie to send back. */
async function login (url: string): Promise<Login> {
  const reply = await getOnce(url, '/login')
  expect(reply.status).toBe(200)
  const setCookie = reply.headers['set-cookie']?.find((line) => line.startsWith('sessionId='))
  if (setCookie === undefined) throw new Error(`GET /login set no session cookie: ${JSON.stringify(reply.headers)}`)
  const { pid, sessionId } = JSON.parse(reply.body) as { pid: number, sessionId: string }
  return { pid, sessionId, cookie: setCookie.split(';')[0] as string }
}

/** The shared key's ttl as a worker reads it: -2 once the key is gone. */
async function ttlOf (url: string, key: string): Promise<number> {
  return (await getJson<{ ttl: number }>(url, `/ttl/${encodeURIComponent(key)}`)).ttl
}

test('a session created on one worker is read on the others; logging out on one ends it for all', async () => {
  const { url } = await cluster({ WORKERS: '4', MAX_AGE_MS: '60000' })
  const session = await login(url)
  const readers = new Set<number>()
  // Each request on a connection of its own: the cluster hands them to its workers in turn.
  for (let i = 0; i < 50 && (readers.size < 2 || ![...readers].some((pid) => pid !== session.pid)); i++) {
    const me = await getJson<{ pid: number, user: string }>(url, '/me', { cookie: session.cookie })
    expect(me.user).toBe('ada')
    readers.add(me.pid)
  }
  expect(readers.size).toBeGreaterThanOrEqual(2)
  expect([...readers].filter((pid) => pid !== session.pid).length).toBeGreaterThanOrEqual(1)
  // Without the cookie, nobody is logged in: the user came from the session, not the worker.
  expect((await getJson<{ user: string }>(url, '/me')).user).toBe('nobody')

  const key = `session:${session.sessionId}`
  expect(await ttlOf(url, key)).toBeGreaterThan(0)
  const loggedOut = await getJson<{ pid: number }>(url, '/logout', { cookie: session.cookie })
  expect(await ttlOf(url, key)).toBe(-2)
  const after = new Set<number>()
  for (let i = 0; i < 50 && ![...after].some((pid) => pid !== loggedOut.pid); i++) {
    const me = await getJson<{ pid: number, user: string }>(url, '/me', { cookie: session.cookie })
    expect(me.user).toBe('nobody')
    after.add(me.pid)
  }
  expect([...after].some((pid) => pid !== loggedOut.pid)).toBe(true)
})

test('a session expires with its cookie\'s max age: its key leaves the shared map, /me answers nobody', async () => {
  const maxAge = 1500
  const { url, sharedPort } = await cluster({ WORKERS: '2', MAX_AGE_MS: String(maxAge) })
  const session = await login(url)
  const key = `session:${session.sessionId}`
  const ttl = await ttlOf(url, key)
  expect(ttl).toBeGreaterThan(0)
  expect(ttl).toBeLessThanOrEqual(maxAge)

  // Nothing touches the session meanwhile, so only the key's ttl can remove it.
  await waitFor(async () => (await ttlOf(url, key)) === -2, 15000, `${key} to expire`)
  for (let i = 0; i < 4; i++) {
    expect((await getJson<{ user: string }>(url, '/me', { cookie: session.cookie })).user).toBe('nobody')
  }

  // The inspect command sees no session left (an unsaved empty session is never stored).
  const { code, stdout, stderr } = await runInspect(teardown, ['inspect', '--port', String(sharedPort), '--prefix', 'session:', '--json'], TEST_KEY)
  expect({ code, stderr }).toEqual({ code: 0, stderr: '' })
  expect((JSON.parse(stdout) as { keys: unknown[] }).keys).toEqual([])
})
