'use strict'

// The targets of issue 6, as ratios measured in one run of `npm run bench`, and the issue's own
// reference figures for the same machine kind, printed next to what this run measured.

const TARGETS = {
  latency: { text: 'awaited single call p50 <= 1.1x raw TCP ping-pong p50', op: '<=', ratio: 1.1 },
  throughput: { text: '4 workers x 64 in flight, incr >= 1.0x Redis + ioredis auto-pipelined', op: '>=', ratio: 1.0 },
  seed: { text: 'seed pattern from 4 workers >= 1.5x Python BaseManager', op: '>=', ratio: 1.5 },
  atomic: { text: 'atomic incr from 4 workers >= 30x Python BaseManager', op: '>=', ratio: 30 },
  httpSeed: { text: 'HTTP / (the seed route under the lock) >= 0.3x /incr on the same cluster', op: '>=', ratio: 0.3 },
  httpLocal: { text: 'HTTP /incr >= 0.9x the per-worker-global route (/local)', op: '>=', ratio: 0.9 },
  httpRedis: { text: 'HTTP /incr >= 1.2x the Redis INCR route', op: '>=', ratio: 1.2 }
}

const REFERENCES = [
  ['raw Node TCP ping-pong, 1 in flight', 'p50 58 µs'],
  ['Redis + ioredis, awaited GET', 'p50 57 µs'],
  ['Redis + ioredis, INCR auto-pipelined, 64 in flight, 4 processes', '473 k ops/s'],
  ['Python BaseManager, with lock: d[n] += 1, 4 processes', '8.4 k ops/s'],
  ['4-worker cluster, per-worker global route (ceiling)', '65 k req/s'],
  ['4-worker cluster, Redis INCR via ioredis', '47 k req/s']
]

/** 'met' or 'missed by ...', for a measured ratio against a target; never throws. */
function judge (target, ratio) {
  if (!Number.isFinite(ratio)) return 'not measured'
  const met = target.op === '>=' ? ratio >= target.ratio : ratio <= target.ratio
  if (met) return 'met'
  const gap = target.op === '>=' ? (target.ratio / ratio - 1) : (ratio / target.ratio - 1)
  const how = target.op === '>=' ? 'needs' : 'over by'
  return `missed (${how} ${(gap * 100).toFixed(0)}%)`
}

module.exports = { TARGETS, REFERENCES, judge }
