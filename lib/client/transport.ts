/**
 * How a worker's requests reach the host's engine: over a socket (HostConnection) or, in the
 * host's own worker, by a direct call (LocalTransport). HostLink picks one after each election
 * and does not care which.
 */
export interface Transport {
  /** Sends request `id`; its answer comes back through `TransportEvents.reply`. */
  send: (id: number, op: number, args: unknown[]) => void
  /** Leaves politely: the host forgets this client's memory of applied mutations. */
  close: () => void
}

export interface TransportEvents {
  reply: (id: number, status: number, value: unknown, message?: unknown) => void
  /** Something the host sent unasked: a change event, a watch overflow, a handover. */
  push: (message: unknown[]) => void
  /** The link broke without close() being called. */
  lost: (error: Error) => void
}
