'use strict'

// What the memory workers share: N small keys (`key:i` -> i), set through the plugin in batches or
// into a plain Map, and the process's memory once garbage collection has settled (--expose-gc).

const BATCH = 1000

function settledMemory () {
  for (let i = 0; i < 3; i++) global.gc()
  return process.memoryUsage()
}

async function fillShared (shared, keys) {
  for (let start = 0; start < keys; start += BATCH) {
    const batch = []
    for (let i = start; i < Math.min(keys, start + BATCH); i++) batch.push(shared.set(`key:${i}`, i))
    await Promise.all(batch)
  }
}

function fillMap (keys) {
  const map = new Map()
  for (let i = 0; i < keys; i++) map.set(`key:${i}`, i)
  return map
}

module.exports = { fillMap, fillShared, settledMemory }
