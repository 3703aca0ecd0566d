import type { Server } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { tryListen } from '../election'
import type { HostEngine } from '../host/host-engine'
import { opCode } from '../protocol/messages'
import type { HostConnection } from './host-connection'
import type { LinkSettings } from './host-link'
import type { IncomingHandover } from './incoming-handover'

const HANDOVER_READY = opCode('handoverReady')
const HANDOVER_PREPARED = opCode('handoverPrepared')
const HANDOVER_FAILED = opCode('handoverFailed')
const LEAVING = opCode('leaving')
// An id no call ever reaches: nobody waits for an answer to these notices.
export const NOTICE_ID = Number.MAX_SAFE_INTEGER
// How often a successor tries to bind the port it was told is free (it is, at once, unless a
// stranger took it in between).
const BIND_RETRY_MS = 5

export interface TakeoverContext {
  settings: LinkSettings
  /** The connection to the closing host, which hears how the takeover goes. */
  connection: HostConnection | undefined
  where: string
  /** Serves `engine` on `server`: this worker hosts from now on. */
  host: (server: Server, engine: HostEngine, incoming: IncomingHandover) => Promise<void>
}

/**
 * The receiving side of a handover. Opens the handed-over state, tells the old host, and waits for
 * its word. Once told the port is free (or once the old host is gone), it binds the port and
 * serves: a successor that is closing by then still takes over, and hands on in turn, since the
 * old host gave no one else a copy.
 */
export async function takeOver (incoming: IncomingHandover, context: TakeoverContext): Promise<void> {
  const { settings, connection: previous } = context
  const { log } = settings
  let engine: HostEngine
  try {
    engine = await settings.openEngine(incoming.snapshot)
  } catch (error) {
    log.error('shared state: could not open the state handed over; the host will try another worker', error as Error)
    previous?.send(NOTICE_ID, LEAVING, [])
    return
  }
  previous?.send(NOTICE_ID, HANDOVER_PREPARED, [])
  const verdict = await incoming.waitForVerdict(settings.connectTimeout)
  if (verdict === 'cancelled' || verdict === 'timeout') {
    await settings.closeEngine(engine)
    return
  }
  const server = await bindSoon(settings)
  if (server === undefined) {
    // Someone else bound the port in between: this copy must never be served next to theirs.
    await settings.closeEngine(engine)
    log.error(`shared state: could not take over ${context.where}; another process holds it, and the handed-over state is dropped`)
    if (verdict === 'free') previous?.send(NOTICE_ID, HANDOVER_FAILED, [])
    return
  }
  await context.host(server, engine, incoming)
  log.info(`shared state: took over ${incoming.snapshot.state.entries.length} keys from the closing host`)
  if (verdict === 'free') previous?.send(NOTICE_ID, HANDOVER_READY, [])
  // Sent now, not with the next batch: this worker may be closing, and exit, right after.
  previous?.close()
}

async function bindSoon (settings: LinkSettings): Promise<Server | undefined> {
  const deadline = Date.now() + settings.connectTimeout
  for (;;) {
    const server = await tryListen(settings.endpoint)
    if (server !== undefined || Date.now() >= deadline) return server
    await sleep(BIND_RETRY_MS)
  }
}
