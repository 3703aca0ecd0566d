import type { FastifyInstance, FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'
import { SharedLock } from './api/shared-lock'
import { SharedMap } from './api/shared-map'
import { HostLink } from './client/host-link'
import { ProxyStore } from './client/proxy-store'
import { SharedStateAlreadyRegisteredError } from './errors'
import { parseOptions, type ParsedOptions, type SharedStateOptions } from './options'
import { ValueCodec } from './protocol/codec'
import { linkSettings } from './socket-mode'
import { openRedisBackend } from './store/redis/backend'
import type { Backend } from './store/store'

declare module 'fastify' {
  interface FastifyInstance {
    /** The map every worker shares. */
    shared: SharedMap
    /** The lock every worker shares: `shared.lock('default')`. */
    sharedLock: SharedLock
  }
}

async function openSocketBackend (fastify: FastifyInstance, options: ParsedOptions, codec: ValueCodec): Promise<Backend> {
  const log = fastify.log
  const link = new HostLink(linkSettings(options, codec, {
    info: (message) => log.info(message),
    warn: (message, error) => log.warn({ err: error }, message),
    error: (message, error) => log.error({ err: error }, message)
  }))
  await link.start()
  return {
    store: new ProxyStore(link, options.timeout, options.maxFrameBytes),
    close: async () => {},
    leaving: () => link.announceLeaving()
  }
}

async function sharedState (fastify: FastifyInstance, rawOptions: SharedStateOptions): Promise<void> {
  if (fastify.hasDecorator('shared')) throw new SharedStateAlreadyRegisteredError()
  const options = parseOptions(rawOptions)
  for (const warning of options.warnings) fastify.log.warn(warning)

  const codec = new ValueCodec()
  const backend = options.mode === 'redis'
    ? await openRedisBackend(options, codec, fastify.log)
    : await openSocketBackend(fastify, options, codec)
  const shared = new SharedMap(backend.store, codec, options.timeout)
  try {
    // setIfAbsent, not set: a worker that starts late must not reset what others have written.
    for (const [key, value] of Object.entries(options.defaults)) await shared.setIfAbsent(key, value)
  } catch (error) {
    await backend.store.close()
    await backend.close()
    throw error
  }

  fastify.decorate('shared', shared)
  fastify.decorate('sharedLock', shared.lock('default'))
  // preClose runs before the HTTP server stops and waits for its requests: a host closing at the
  // same moment (pm2 stops two workers at once) learns now that this worker cannot succeed it.
  fastify.addHook('preClose', async () => { backend.leaving?.() })
  fastify.addHook('onClose', async () => {
    await backend.store.close()
    await backend.close()
  })
}

/** The plugin: `app.register(sharedState, { port, key })`. */
export const sharedStatePlugin: FastifyPluginAsync<SharedStateOptions> = fp(sharedState, {
  fastify: '5.x',
  name: 'fastify-shared-state'
})
