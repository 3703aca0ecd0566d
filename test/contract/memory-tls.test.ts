import Fastify from 'fastify'
import sharedState from '../../lib'
import { freePort } from '../helpers/ports'
import { TEST_KEY } from '../helpers/processes'
import { describeStore, type Workers } from './behaviour'

// The same behaviour suite with `tls: true`: worker `b` reaches the host over TLS-PSK keyed from
// the shared key (over the local socket first, as without tls).

async function open (): Promise<Workers> {
  const port = await freePort()
  const a = Fastify()
  await a.register(sharedState, { port, key: TEST_KEY, tls: true })
  const b = Fastify()
  await b.register(sharedState, { port, key: TEST_KEY, tls: true })
  return { a, b }
}

async function close ({ a, b }: Workers): Promise<void> {
  await b.close()
  await a.close()
}

describeStore('memory over tls (host worker + client worker)', open, close, { roles: ['host', 'client'] })
