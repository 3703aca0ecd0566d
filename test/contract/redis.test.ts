import { randomBytes } from 'node:crypto'
import Fastify from 'fastify'
import sharedState from '../../lib'
import { RedisServer } from '../helpers/redis'
import { describeStore, type Workers } from './behaviour'

// The Redis store: two workers, each its own Fastify instance with its own connections, sharing
// one state in a redis-server this file starts on a free port (never the shared 6379).

let server: RedisServer | undefined

async function open (): Promise<Workers> {
  server = await RedisServer.start()
  const prefix = `contract-${randomBytes(4).toString('hex')}:`
  const a = Fastify()
  await a.register(sharedState, { redis: server.url, prefix })
  const b = Fastify()
  await b.register(sharedState, { redis: server.url, prefix })
  return { a, b }
}

async function close ({ a, b }: Workers): Promise<void> {
  await b.close()
  await a.close()
  await server?.dispose()
}

describeStore('redis (two workers, one redis-server)', open, close, {
  roles: ['redis', 'redis']
})
