import { type IncomingHttpHeaders, request } from 'node:http'

export interface Reply {
  status: number
  headers: IncomingHttpHeaders
  body: string
}

/**
 * One GET on a connection of its own, closed after the answer: under node:cluster each new
 * connection goes to the next worker, so successive calls reach different workers.
 */
export function getOnce (url: string, path: string, headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const outgoing = request(new URL(path, url), { agent: false, headers: { connection: 'close', ...headers } }, (response) => {
      let body = ''
      response.setEncoding('utf8')
      response.on('data', (chunk: string) => { body += chunk })
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body }))
      response.on('error', reject)
    })
    outgoing.on('error', reject)
    outgoing.end()
  })
}

/** The JSON body of a 200 answer; fails on any other status. */
export async function getJson<T> (url: string, path: string, headers: Record<string, string> = {}): Promise<T> {
  const reply = await getOnce(url, path, headers)
  if (reply.status !== 200) throw new Error(`GET ${path} answered ${reply.status}: ${reply.body}`)
  return JSON.parse(reply.body) as T
}
