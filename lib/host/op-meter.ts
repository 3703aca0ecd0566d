import { OPS } from '../protocol/messages'

/**
 * Counts the operations the host runs, by op. Rates are the counts of the last whole second,
 * taken by one unref'd timer, so counting costs an array increment on the hot path.
 */
export class OpMeter {
  readonly #counts = new Float64Array(OPS.length)
  readonly #previous = new Float64Array(OPS.length)
  readonly #lastSecond = new Float64Array(OPS.length)
  readonly #timer: NodeJS.Timeout

  constructor () {
    this.#timer = setInterval(() => {
      for (let op = 0; op < OPS.length; op++) {
        this.#lastSecond[op] = (this.#counts[op] as number) - (this.#previous[op] as number)
        this.#previous[op] = this.#counts[op] as number
      }
    }, 1000)
    this.#timer.unref()
  }

  count (op: number): void {
    this.#counts[op] = (this.#counts[op] as number) + 1
  }

  /** Operations per second by op name, over the last whole second; ops not run are left out. */
  rates (): Record<string, number> {
    const rates: Record<string, number> = {}
    for (let op = 0; op < OPS.length; op++) {
      const rate = this.#lastSecond[op] as number
      if (rate > 0) rates[(OPS[op] as { name: string }).name] = rate
    }
    return rates
  }

  close (): void {
    clearInterval(this.#timer)
  }
}
