import { ELECTION_SETTLE_MS, settleDelay } from '../../lib/election'

describe('the wait before binding a port nobody answers on', () => {
  test('gives a successor taking over its head start, with jitter growing by round', () => {
    for (let round = 1; round <= 30; round++) {
      const delay = settleDelay(round, false)
      expect(delay).toBeGreaterThanOrEqual(ELECTION_SETTLE_MS + Math.min(100, 5 * round))
      expect(delay).toBeLessThanOrEqual(ELECTION_SETTLE_MS + Math.min(100, 5 * round) + 20)
    }
  })

  test('is none once the last host died holding the change log: no successor can be about to bind', () => {
    for (let round = 1; round <= 30; round++) expect(settleDelay(round, true)).toBe(0)
  })
})
