import { randomBytes } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import type { Redis, RedisOptions } from 'ioredis'
import { SharedStateConnectTimeoutError, SharedStateOptionsError } from '../../errors'
import type { ParsedOptions } from '../../options'
import type { ValueCodec } from '../../protocol/codec'
import type { Backend } from '../store'
import { KeyLayout } from './keys'
import { RedisLink } from './redis-link'
import { RedisLocks } from './redis-locks'
import { RedisStore } from './redis-store'
import { RedisWatch } from './redis-watch'
import { defineScripts } from './scripts'

type IoredisModule = typeof import('ioredis')

/**
 * ioredis is an optional peer dependency: it is required here, when Redis mode opens, so the
 * socket mode never loads it and does not need it installed.
 */
function loadIoredis (): IoredisModule {
  try {
    return require('ioredis') as IoredisModule
  } catch (error) {
    if ((error as { code?: string }).code !== 'MODULE_NOT_FOUND') throw error
    throw new SharedStateOptionsError('"redis" needs the ioredis package: npm install ioredis', { cause: error })
  }
}

/** Where a client connects, for logs and errors: never the password. */
function describeClient (options: RedisOptions): string {
  if (options.sentinels !== undefined && options.sentinels !== null) return `sentinel group ${options.name ?? 'mymaster'}`
  const where = options.path ?? `${options.host ?? 'localhost'}:${options.port ?? 6379}`
  return options.db === undefined || options.db === 0 ? where : `${where}/${options.db}`
}

/**
 * The command connection runs with these, whatever the user's client was set up with: no offline
 * queue and no automatic resend, so the store decides what waits and for how long (redis-link.ts);
 * commands in flight when the connection drops fail at once (ioredis would otherwise keep them
 * unanswered forever); reconnection forever, at most half a second apart, so everything recovers
 * soon after Redis comes back.
 */
function connectionOptions (options: ParsedOptions): RedisOptions {
  return {
    lazyConnect: true,
    enableOfflineQueue: false,
    autoResendUnfulfilledCommands: false,
    maxRetriesPerRequest: 0,
    connectTimeout: options.connectTimeout,
    keyPrefix: '',
    // ioredis waits this long for a socket it ended to close, even one already gone, holding the
    // process open meanwhile (2 s by default).
    disconnectTimeout: 200,
    retryStrategy: (attempt: number) => Math.min(attempt * 50, 500)
  }
}

interface Connections {
  command: Redis
  subscriber: Redis
}

/** The namespace: the user's client's own keyPrefix, if any, then `prefix`. */
function namespaceOf (options: ParsedOptions): string {
  const keyPrefix = typeof options.redis === 'string' ? '' : (options.redis as unknown as Redis).options?.keyPrefix
  return (keyPrefix ?? '') + options.prefix
}

/**
 * Opens the two connections the store needs: one for commands, one for pub/sub. From a URL they
 * are new clients; from a client the user passed (an ioredis instance, or `fastify.redis` of
 * @fastify/redis) they are duplicates of it, with its address, credentials, TLS and db. Either way
 * the plugin owns and closes these two, and never closes the user's client.
 */
function openConnections (ioredis: IoredisModule, options: ParsedOptions, keys: KeyLayout, workerId: string): Connections {
  const settings = { ...connectionOptions(options), connectionName: keys.connectionName(workerId, false) }
  // The subscriber keeps ioredis' queue: subscriptions wait for a reconnect and are replayed.
  const subscriberSettings: RedisOptions = {
    ...settings,
    enableOfflineQueue: true,
    maxRetriesPerRequest: null,
    connectionName: keys.connectionName(workerId, true)
  }
  if (typeof options.redis === 'string') {
    const command = new ioredis.Redis(options.redis, settings)
    return { command, subscriber: command.duplicate(subscriberSettings) }
  }
  const client = options.redis as unknown as Redis
  if (client.isCluster) throw new SharedStateOptionsError('"redis": a Redis Cluster client is not supported; pass a client of one primary')
  return { command: client.duplicate(settings), subscriber: client.duplicate(subscriberSettings) }
}

async function readyWithin (clients: Redis[], ms: number, where: string): Promise<void> {
  let lastError: Error | undefined
  const remember = (error: Error): void => { lastError = error }
  let timer: NodeJS.Timeout | undefined
  try {
    await Promise.race([
      Promise.all(clients.map((client) => new Promise<void>((resolve) => {
        client.on('error', remember)
        client.once('ready', resolve)
        client.connect().catch(() => {})
      }))),
      new Promise<never>((resolve, reject) => {
        timer = setTimeout(() => reject(new SharedStateConnectTimeoutError(`Redis at ${where}`, ms, { cause: lastError })), ms)
      })
    ])
  } finally {
    clearTimeout(timer)
    for (const client of clients) client.off('error', remember)
  }
}

async function closeConnection (client: Redis): Promise<void> {
  if (client.status === 'ready') {
    let timer: NodeJS.Timeout | undefined
    await Promise.race([
      client.quit().catch(() => {}),
      new Promise((resolve) => { timer = setTimeout(resolve, 1000) })
    ])
    clearTimeout(timer)
  }
  // Stops any reconnection in progress, and closes what a quit did not.
  client.disconnect()
}

/**
 * One warning when Redis goes away, one line when it is back; the errors in between are the
 * calls'. Returns a function that silences it, for the plugin's own close.
 */
function logTransitions (client: Redis, where: string, log: FastifyBaseLogger): () => void {
  let lost = false
  let closing = false
  let lastError: Error | undefined
  client.on('error', (error: Error) => { lastError = error })
  client.on('close', () => {
    if (lost || closing) return
    lost = true
    log.warn({ err: lastError }, `shared state: lost Redis at ${where}; calls fail with a coded error until it is back`)
  })
  client.on('ready', () => {
    if (lost) log.info(`shared state: reconnected to Redis at ${where}`)
    lost = false
    lastError = undefined
  })
  return () => { closing = true }
}

/** Redis mode: the state lives in Redis under `prefix`, and this worker's role is `redis`. */
export async function openRedisBackend (options: ParsedOptions, codec: ValueCodec, log: FastifyBaseLogger): Promise<Backend> {
  const ioredis = loadIoredis()
  const keys = new KeyLayout(namespaceOf(options))
  const workerId = randomBytes(12).toString('hex')
  const { command, subscriber } = openConnections(ioredis, options, keys, workerId)
  const where = describeClient(command.options)
  // Listeners first: an ioredis client without an 'error' listener prints every failure itself.
  subscriber.on('error', () => {})
  const link = new RedisLink(defineScripts(command), where, options.timeout)
  try {
    await readyWithin([command, subscriber], options.connectTimeout, where)
  } catch (error) {
    command.disconnect()
    subscriber.disconnect()
    throw error
  }
  const quiet = logTransitions(command, where, log)

  const watch = new RedisWatch(subscriber, link, keys, command.options.db ?? 0, options.timeout, log)
  const locks = new RedisLocks(link, keys, workerId)
  const store = new RedisStore(link, keys, codec, locks, watch, options.timeout)
  try {
    await watch.start()
  } catch (error) {
    await store.close()
    command.disconnect()
    subscriber.disconnect()
    throw error
  }
  log.info(`shared state: redis at ${where} (prefix ${JSON.stringify(keys.namespace)})`)
  return {
    store,
    close: async () => {
      quiet()
      await Promise.all([closeConnection(command), closeConnection(subscriber)])
    }
  }
}
