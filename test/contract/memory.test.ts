import Fastify from 'fastify'
import sharedState from '../../lib'
import { freePort } from '../helpers/ports'
import { TEST_KEY } from '../helpers/processes'
import { describeStore, type Workers } from './behaviour'

// The memory store behind a live host: worker `a` wins the election and uses the state in-process,
// worker `b` is a client over a real TCP connection. Both run in this process, which also proves
// two plugin instances in one process do not see each other's internals.

async function open (): Promise<Workers> {
  const port = await freePort()
  const a = Fastify()
  await a.register(sharedState, { port, key: TEST_KEY })
  const b = Fastify()
  await b.register(sharedState, { port, key: TEST_KEY })
  return { a, b }
}

async function close ({ a, b }: Workers): Promise<void> {
  await b.close()
  await a.close()
}

describeStore('memory (host worker + client worker)', open, close, { roles: ['host', 'client'] })
