import { randomBytes } from 'node:crypto'
import { lstat, unlink } from 'node:fs/promises'
import type { Server } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { HostConnection, type ConnectionSettings } from './client/host-connection'
import type { TransportEvents } from './client/transport'
import { SharedStateConnectTimeoutError } from './errors'
import { localSocketName, ManagerServer } from './local-socket'
import { describeEndpoint, type Endpoint } from './options'

/** Who won: this worker listens and hosts, or it is an authenticated client of the winner. */
export type ElectionResult =
  | { readonly role: 'host', readonly server: Server }
  | { readonly role: 'client', readonly connection: HostConnection }

export function newClientId (): string {
  return `${process.pid}-${randomBytes(6).toString('hex')}`
}

/**
 * Binds the manager socket, or fails because another process already has it. Under node:cluster a
 * worker's plain listen() is handed to the primary, which shares one socket among all workers and
 * never reports EADDRINUSE: every worker would believe it won. `exclusive: true` makes the worker
 * bind the port itself, so exactly one wins, with or without a cluster primary.
 */
export async function tryListen (endpoint: Endpoint): Promise<Server | undefined> {
  const server = await new Promise<ManagerServer | undefined>((resolve, reject) => {
    const candidate = new ManagerServer({ noDelay: true })
    const onError = (error: NodeJS.ErrnoException): void => {
      if (error.code === 'EADDRINUSE') resolve(undefined)
      else reject(error)
    }
    candidate.once('error', onError)
    candidate.once('listening', () => {
      candidate.off('error', onError)
      resolve(candidate)
    })
    if (endpoint.kind === 'unix') candidate.listen({ path: endpoint.path, exclusive: true })
    else candidate.listen({ host: endpoint.host, port: endpoint.port, exclusive: true })
  })
  const local = localSocketName(endpoint)
  if (server !== undefined && local !== undefined) await server.listenLocally(local)
  return server
}

// A host greets within milliseconds; a local socket that stays silent longer is not our host, and
// the election goes on over TCP.
const LOCAL_GREETING_MS = 1000

/**
 * Connects to the elected host over its local socket when it has one (see local-socket.ts), and
 * otherwise, or when that fails in any way, over the address itself, whose answer is the one that
 * counts. A stranger squatting the local name costs a worker at most a second; one that relays it
 * to the host fails the handshake (connection-view.ts) before the worker sends anything, and is
 * logged, since it is someone's attempt to sit in the middle.
 */
async function connectToHost (settings: ConnectionSettings, deadline: number, events: TransportEvents): Promise<HostConnection> {
  const local = localSocketName(settings.endpoint)
  if (local !== undefined) {
    const nearby: ConnectionSettings = { ...settings, endpoint: { kind: 'unix', path: local } }
    try {
      return await HostConnection.open(nearby, Math.min(deadline, Date.now() + LOCAL_GREETING_MS), events)
    } catch (error) {
      if ((error as { code?: string }).code === 'FST_SHARED_STATE_AUTH') {
        settings.warn?.(`shared state: refused the local socket ${describeEndpoint(nearby.endpoint)}; using TCP`, error as Error)
      }
    }
  }
  return HostConnection.open(settings, deadline, events)
}

function isRefused (error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code
  return code === 'ECONNREFUSED' || code === 'ENOENT' || code === 'ECONNRESET'
}

/**
 * A unix socket file outlives a host killed with SIGKILL, and its path then refuses connections
 * while still blocking listen(). It is removed only if it is still the very file found refusing,
 * so a worker never deletes the socket a faster rival has just bound in its place.
 */
async function removeStaleSocket (path: string, refusedInode: number | undefined): Promise<void> {
  if (refusedInode === undefined) return
  const now = await lstat(path).catch(() => undefined)
  if (now?.isSocket() === true && now.ino === refusedInode) await unlink(path).catch(() => {})
}

async function inodeOf (endpoint: Endpoint): Promise<number | undefined> {
  if (endpoint.kind !== 'unix') return undefined
  return (await lstat(endpoint.path).catch(() => undefined))?.ino
}

// How long a worker that finds nobody answering waits before it binds the socket itself. A
// successor taking over from a closing host binds the moment the port is free, without waiting:
// this head start lets it win, so a worker that starts in that moment connects to the state being
// handed over instead of hosting an empty copy beside it.
export const ELECTION_SETTLE_MS = 50

/**
 * The wait before binding in the election's round `round`, with jitter that spreads the survivors
 * of a dead host so they do not bind in lockstep. None in the first round once the last host is
 * known to have died without handing over (`lastHostDied`): a successor claims the change log
 * before it binds, so a claim left by a dead process means no successor is about to bind, and the
 * wait would only delay the recovery. A later round means the bind failed (a rival won, or
 * something holds the port without answering): it waits as usual, so a worker never spins.
 */
export function settleDelay (round: number, lastHostDied: boolean): number {
  if (lastHostDied && round === 1) return 0
  return ELECTION_SETTLE_MS + Math.min(100, 5 * round) + Math.random() * 20
}

// A rival replaces a stale socket file once (unlink, then bind); more replacements than this in
// one election is someone swapping files, and is refused as the relay it is attempting.
const FILE_REPLACEMENTS = 3

/**
 * Runs the election: connect and authenticate to whoever hosts, or, when nobody answers, listen
 * exclusively after a short wait (see settleDelay; `lastHostDied` tells whether the last host
 * died holding the change log). A host that vanished, or a rival that bound first, just means
 * another round, until `deadline`. Errors that another round cannot fix (wrong key, a stranger on
 * the port) end it at once.
 */
export async function electHost (settings: ConnectionSettings, connectTimeout: number, events: TransportEvents,
  lastHostDied: () => Promise<boolean> = async () => false): Promise<ElectionResult> {
  const { endpoint } = settings
  const deadline = Date.now() + connectTimeout
  let round = 0
  let refusals = 0
  let replacements = 0
  while (Date.now() < deadline) {
    const inode = await inodeOf(endpoint)
    try {
      return { role: 'client', connection: await connectToHost(settings, deadline, events) }
    } catch (error) {
      // A connection closed right after our proof is a wrong key, or a host that was going away
      // at that moment: only a second refusal in a row settles it.
      const refusedProof = (error as { closedAfterProof?: boolean }).closedAfterProof === true
      if (refusedProof && refusals++ === 0) continue
      // The socket file changed under this connection: look again (see FILE_REPLACEMENTS).
      const fileReplaced = (error as { fileReplaced?: boolean }).fileReplaced === true
      if (fileReplaced && replacements++ < FILE_REPLACEMENTS) continue
      if (!isRefused(error)) throw error
      if (endpoint.kind === 'unix') await removeStaleSocket(endpoint.path, inode)
    }
    round++
    // Only the first round may skip the wait (see settleDelay): the lock is read then alone.
    const delay = settleDelay(round, round === 1 && await lastHostDied())
    if (delay > 0) await sleep(delay)
    const server = await tryListen(endpoint)
    if (server !== undefined) return { role: 'host', server }
  }
  throw new SharedStateConnectTimeoutError(describeEndpoint(endpoint), connectTimeout)
}
