'use strict'

/**
 * Runs `measure(i)` up to `ctx.runs` times, but starts no further run once `budgetMs` has passed
 * (there is always one): a scenario whose subject got slow keeps the suite within its minutes,
 * and says so. Resolves with the results and a note when runs were cut.
 */
async function repeatWithin (ctx, budgetMs, what, measure) {
  const started = Date.now()
  const results = []
  for (let i = 0; i < ctx.runs; i++) {
    if (i > 0 && Date.now() - started > budgetMs) break
    ctx.log(`${what} run ${i + 1}/${ctx.runs}`)
    results.push(await measure(i))
  }
  const cut = results.length < ctx.runs
    ? `${results.length} of ${ctx.runs} runs: the first took ${((Date.now() - started) / 1000 / results.length).toFixed(0)} s`
    : undefined
  return { results, cut }
}

module.exports = { repeatWithin }
