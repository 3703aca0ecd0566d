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
