'use strict'

// Busy-loop processes that keep CPUs occupied while a scenario measures: the "busy machine" the
// lock's hand-offs have to be scheduled on. Each is a plain Node process spinning forever; it is
// killed by pid when the measurement ends (and by the suite's exit handler if the run dies).

const { startProgram, stop } = require('./processes')

const BURNERS = 2

/** Starts `count` spinning processes; resolves with a function that stops them. */
async function startBurners (count = BURNERS) {
  const burners = Array.from({ length: count }, (_, i) =>
    startProgram(process.execPath, ['-e', 'for (;;) {}'], { name: `cpu burner ${i + 1}` }))
  return async () => {
    for (const burner of burners) await stop(burner, { signal: 'SIGKILL' })
  }
}

/** Runs `fn` with the burners spinning alongside. */
async function withBurners (fn, count = BURNERS) {
  const stopBurners = await startBurners(count)
  try {
    return await fn()
  } finally {
    await stopBurners()
  }
}

module.exports = { BURNERS, startBurners, withBurners }
