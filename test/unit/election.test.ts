import { ELECTION_SETTLE_MS, settleDelay } from '../../lib/election'

describe('the wait before binding a port nobody answers on', () => {
  test('gives a successor taking over its head start, with jitter growing by round', () => {
    for (let round = 1; round <= 30; round++) {
      const delay = settleDelay(round, false)
      expect(delay).toBeGreaterThanOrEqual(ELECTION_SETTLE_MS + Math.min(100, 5 * round))
      expect(delay).toBeLessThanOrEqual(ELECTION_SETTLE_MS + Math.min(100, 5 * round) + 20)
    }
  })

  test('is none in the first round once the last host died holding the change log: no successor can be about to bind', () => {
    expect(settleDelay(1, true)).toBe(0)
    // A later round follows a bind that failed: it waits as ever, and never spins.
    for (let round = 2; round <= 30; round++) expect(settleDelay(round, true)).toBeGreaterThanOrEqual(ELECTION_SETTLE_MS)
  })
})
