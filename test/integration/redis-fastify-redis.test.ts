import Fastify from 'fastify'
import fastifyRedis from '@fastify/redis'
import sharedState from '../../lib'
import { redisForThisFile, uniquePrefix } from '../helpers/redis'
import { Teardown } from '../helpers/teardown'

// The client @fastify/redis decorates is the one most Fastify apps already have: the plugin takes
// it as it is, works on its own duplicates, and leaves it open for the app.

const teardown = new Teardown()
const redis = redisForThisFile()

afterEach(() => teardown.run())

test('two apps share state through the clients @fastify/redis decorated, which stay open', async () => {
  const prefix = uniquePrefix()
  const apps = []
  for (let i = 0; i < 2; i++) {
    const app = Fastify()
    teardown.add(() => app.close())
    await app.register(fastifyRedis, { url: redis().url })
    await app.register(sharedState, { redis: app.redis, prefix })
    apps.push(app)
  }
  const [a, b] = apps as [typeof apps[0], typeof apps[0]]
  expect(a.shared.role).toBe('redis')
  await a.shared.set('n', 41)
  expect(await b.shared.incr('n')).toBe(42)
  const handle = await b.sharedLock.acquire()
  expect(await a.sharedLock.isLocked()).toBe(true)
  await handle.release()

  // Closing the plugin's own connections must leave the app's client usable until the app closes.
  expect(a.redis.status).toBe('ready')
  expect(await a.redis.ping()).toBe('PONG')
})
