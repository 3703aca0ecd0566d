import { statSync } from 'node:fs'
import type { Socket } from 'node:net'
import { TLSSocket } from 'node:tls'

/**
 * What one end sees of a connection, which the handshake's proofs cover (protocol/auth.ts). Both
 * ends of one direct connection compute the same string; a connection spliced by a relay is two
 * connections, whose ends see different things:
 *
 * - TCP: the worker's address and port, then the host's. A relay's own connection to the host
 *   leaves from another port, and the worker reached the relay at another address or port.
 * - a unix socket path: the identity (device, inode) of the socket file. The host
 *   records it when it binds; the worker reads it before it connects and again once connected,
 *   so a relay's file put in place of the host's shows another inode.
 * - the abstract local socket: its name. A relay holding the name forwards to the host's TCP port,
 *   which the host sees as TCP.
 * - TLS: keying material exported from the TLS session, which only the two ends of one session
 *   share; it holds across address translation, where the TCP view would not.
 *
 * Nothing of this costs anything per call: it is computed once per connection.
 */

const LISTENER_VIEW = Symbol('fastify-shared-state listener view')
const EXPORT_LABEL = 'fastify-shared-state connection'
const EXPORT_CONTEXT = Buffer.from('v1')

type TaggedSocket = Socket & { [LISTENER_VIEW]?: string }

/** Marks a socket accepted on a unix listener with that listener's view. */
export function tagListener (socket: Socket, view: string): void {
  (socket as TaggedSocket)[LISTENER_VIEW] = view
}

/** Device and inode of a socket file, or undefined for an abstract name or a missing file. */
export function socketFileId (path: string): string | undefined {
  if (path.startsWith('\0')) return undefined
  try {
    const stats = statSync(path)
    return `${stats.dev}:${stats.ino}`
  } catch {
    return undefined
  }
}

/**
 * A socket file is known by its identity alone, so that two spellings of one path (relative,
 * through a symlink) agree; an abstract socket has no file, and is known by its name.
 */
export function unixView (path: string, fileId: string | undefined): string {
  return fileId === undefined ? `unix ${path.replace(/^\0/, '@')}` : `unix file ${fileId}`
}

// A dual-stack listener sees an IPv4 peer as ::ffff:a.b.c.d, where the peer sees a.b.c.d.
function address (host: string | undefined, port: number | undefined): string {
  return `${(host ?? '?').replace(/^::ffff:(?=\d+\.)/, '')}:${String(port)}`
}

function tlsView (socket: TLSSocket): string {
  return `tls ${socket.exportKeyingMaterial(32, EXPORT_LABEL, EXPORT_CONTEXT).toString('hex')}`
}

/** The host's view of a connection it accepted (a TLS socket once its handshake is done). */
export function hostView (socket: Socket): string {
  if (socket instanceof TLSSocket) return tlsView(socket)
  const tagged = (socket as TaggedSocket)[LISTENER_VIEW]
  if (tagged !== undefined) return tagged
  return `tcp ${address(socket.remoteAddress, socket.remotePort)} > ${address(socket.localAddress, socket.localPort)}`
}

/**
 * The worker's view of a connection it opened: `unix` is the view of the unix socket it
 * connected to, which the worker computes itself (see HostConnection).
 */
export function clientView (socket: Socket, unix: string | undefined): string {
  if (socket instanceof TLSSocket) return tlsView(socket)
  if (unix !== undefined) return unix
  return `tcp ${address(socket.localAddress, socket.localPort)} > ${address(socket.remoteAddress, socket.remotePort)}`
}
