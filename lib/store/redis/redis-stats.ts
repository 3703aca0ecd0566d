import { isSharedStateError } from '../../errors'
import type { StoreStats } from '../store'
import type { KeyLayout } from './keys'
import type { RedisLink } from './redis-link'

/** What the store counts itself; the rest of `stats()` is asked of Redis. */
export interface LocalCounts {
  keys: () => Promise<number>
  locksHeld: () => Promise<number>
  opsPerSecond: Record<string, number>
  /** This worker's acquires waiting now, and those that had to wait since it started. */
  waiting: number
  waits: number
}

/**
 * `stats()` in Redis mode. The host is the Redis server (its address and pid from INFO), the workers
 * are the command connections Redis lists under this namespace's connection name, `keys` and
 * `locks.held` count the whole namespace; the op rates and the lock waits are this worker's own,
 * and `failovers` counts its reconnections to Redis. A Redis that refuses INFO or CLIENT LIST (a
 * managed service's ACL) gives pid 0 and no workers rather than an error.
 */
export async function describeRedis (link: RedisLink, keys: KeyLayout, counts: LocalCounts): Promise<StoreStats> {
  const [server, clients, keyCount, held] = await Promise.all([
    refusable(link.call('stats', (client) => client.info('server'))),
    refusable(link.call('stats', (client) => client.client('LIST') as Promise<string>)),
    counts.keys(),
    counts.locksHeld()
  ])
  return {
    role: 'redis',
    host: { address: link.where, pid: Number(/process_id:(\d+)/.exec(server)?.[1] ?? 0) },
    workers: workersIn(clients, keys),
    keys: keyCount,
    opsPerSecond: counts.opsPerSecond,
    locks: { held, waiting: counts.waiting, waits: counts.waits },
    failovers: link.reconnects
  }
}

function workersIn (clientList: string, keys: KeyLayout): StoreStats['workers'] {
  const workers: StoreStats['workers'] = []
  for (const line of clientList.split('\n')) {
    const name = /(?:^| )name=(\S*)/.exec(line)?.[1]
    const worker = name === undefined ? undefined : keys.workerOf(name)
    if (worker !== undefined) workers.push(worker)
  }
  return workers
}

/** A command Redis refused (PROTOCOL) answers empty; a Redis out of reach still rejects. */
async function refusable (reply: Promise<string>): Promise<string> {
  try {
    return await reply
  } catch (error) {
    if (isSharedStateError(error) && error.code === 'FST_SHARED_STATE_PROTOCOL') return ''
    throw error
  }
}
