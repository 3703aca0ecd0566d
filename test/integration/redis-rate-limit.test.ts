import type { AddressInfo } from 'node:net'
import Fastify, { type FastifyInstance } from 'fastify'
import rateLimit from '@fastify/rate-limit'
import { request } from 'undici'
import sharedState, { sharedRateLimitStore } from '../../lib'
import { redisForThisFile, uniquePrefix } from '../helpers/redis'
import { Teardown } from '../helpers/teardown'

// The rate-limit store only uses app.shared, so a limit holds across apps in Redis mode too:
// two apps (as on two machines) on one Redis share one budget.

const teardown = new Teardown()
const redis = redisForThisFile()

afterEach(() => teardown.run())

async function limitedApp (prefix: string): Promise<string> {
  const app: FastifyInstance = Fastify()
  teardown.add(() => app.close())
  await app.register(sharedState, { redis: redis().url, prefix })
  await app.register(rateLimit, { max: 50, timeWindow: 60000, store: sharedRateLimitStore(app.shared) })
  app.get('/', async () => 'ok')
  await app.listen({ host: '127.0.0.1', port: 0 })
  return `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/`
}

test('two apps on one Redis let exactly max requests through between them', async () => {
  const prefix = uniquePrefix()
  const urls = [await limitedApp(prefix), await limitedApp(prefix)]
  const statuses = await Promise.all(Array.from({ length: 150 }, async (_, i) => {
    const response = await request(urls[i % 2] as string)
    await response.body.dump()
    return response.statusCode
  }))
  expect(statuses.filter((status) => status === 200)).toHaveLength(50)
  expect(statuses.filter((status) => status === 429)).toHaveLength(100)
})
