import { once } from 'node:events'

/**
 * The shared key, from SHARED_STATE_KEY or typed at a prompt without echo. Never from an argument:
 * arguments show in `ps` to every user of the machine.
 */
export async function readKey (): Promise<Buffer> {
  const fromEnv = process.env.SHARED_STATE_KEY
  if (fromEnv !== undefined && fromEnv !== '') return Buffer.from(fromEnv)
  const { stdin, stderr } = process
  if (!stdin.isTTY) {
    // Piped: the first line of standard input.
    let text = ''
    for await (const chunk of stdin) {
      text += String(chunk)
      if (text.includes('\n')) break
    }
    return Buffer.from(text.split('\n')[0] ?? '')
  }
  stderr.write('shared-state key: ')
  stdin.setRawMode(true)
  stdin.resume()
  let typed = ''
  try {
    while (true) {
      const [chunk] = await once(stdin, 'data') as [Buffer]
      for (const char of chunk.toString('utf8')) {
        if (char === '\r' || char === '\n') return Buffer.from(typed)
        if (char === '\u0003') throw new Error('cancelled')
        if (char === '\u007f') typed = typed.slice(0, -1)
        else typed += char
      }
    }
  } finally {
    stdin.setRawMode(false)
    stdin.pause()
    stderr.write('\n')
  }
}
