/**
 * The numbers a change log gives the clients whose replies it records: a request's record names
 * its client by a number of a byte or two, defined once by a ['client', number, clientId] record
 * before its first use, instead of by the client's id of some twenty bytes every time.
 *
 * Numbers only grow, and a number, once defined in a file, always means the same client there. A
 * compaction writes the definitions of the numbers in use at the head of the new file, before any
 * record of its tail refers to them; the clients the host no longer remembers are dropped then.
 */
export class ClientNumbers {
  readonly #numbers = new Map<string, number>()
  #last = 0

  /** The client's number; undefined when it has none yet. */
  get (clientId: string): number | undefined {
    return this.#numbers.get(clientId)
  }

  /** Gives the client the next number; its definition must be logged before the number is used. */
  add (clientId: string): number {
    const number = ++this.#last
    this.#numbers.set(clientId, number)
    return number
  }

  /** Keeps the numbers of the clients `keep` accepts and returns their definitions, as they stand. */
  retain (keep: (clientId: string) => boolean): Map<string, number> {
    for (const clientId of this.#numbers.keys()) {
      if (!keep(clientId)) this.#numbers.delete(clientId)
    }
    return new Map(this.#numbers)
  }
}
