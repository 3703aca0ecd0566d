import { Pool } from 'undici'

export interface Answer {
  status: number
  body: string
}

/** Sends `count` GET requests to `url + path` with `inFlight` at a time; returns every answer. */
export async function fire (url: string, path: string, count: number, inFlight: number): Promise<Answer[]> {
  const pool = new Pool(url, { connections: inFlight, pipelining: 1 })
  const answers: Answer[] = []
  let sent = 0
  async function lane (): Promise<void> {
    while (sent < count) {
      sent++
      const response = await pool.request({ method: 'GET', path })
      answers.push({ status: response.statusCode, body: await response.body.text() })
    }
  }
  try {
    await Promise.all(Array.from({ length: inFlight }, lane))
  } finally {
    await pool.close()
  }
  return answers
}

/** The numbers 1..n, to compare with sorted counter answers. */
export function oneTo (n: number): number[] {
  return Array.from({ length: n }, (_, i) => i + 1)
}

/**
 * Like fire(), for loads that outlive a worker: a request whose connection dies with the worker
 * serving it is recorded with status 0 (and the error's message) instead of failing the whole
 * load. `onAnswer` sees each answer as it arrives, e.g. to kill a worker halfway through.
 */
export async function fireThroughFailures (url: string, path: string, count: number, inFlight: number,
  onAnswer: (answer: Answer, answered: number) => void = () => {}): Promise<Answer[]> {
  // A request never waits forever: one stuck behind a broken worker fails the test, not the runner.
  const pool = new Pool(url, { connections: inFlight, pipelining: 1, headersTimeout: 30000, bodyTimeout: 30000 })
  const answers: Answer[] = []
  let sent = 0
  async function lane (): Promise<void> {
    while (sent < count) {
      sent++
      let answer: Answer
      try {
        const response = await pool.request({ method: 'GET', path })
        answer = { status: response.statusCode, body: await response.body.text() }
      } catch (error) {
        answer = { status: 0, body: `${(error as NodeJS.ErrnoException).code ?? ''} ${(error as Error).message}` }
      }
      answers.push(answer)
      onAnswer(answer, answers.length)
    }
  }
  try {
    await Promise.all(Array.from({ length: inFlight }, lane))
  } finally {
    await pool.close()
  }
  return answers
}
