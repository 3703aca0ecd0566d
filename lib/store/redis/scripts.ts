import type { Redis } from 'ioredis'

/**
 * The Lua scripts behind every step that reads and writes: Redis runs a script alone, so each one
 * is atomic, and a change event published from inside the script that made the change reaches
 * every watcher in the order the writes were applied. Registered once per connection with
 * `defineCommand`; ioredis sends EVALSHA and falls back to EVAL after a Redis restart.
 *
 * Values are MessagePack bytes that the scripts move without looking inside. The one exception is a
 * plain number, which `incr` decodes and re-encodes itself, byte for byte as @msgpack/msgpack does
 * (so `compareAndSet` against a number the caller encodes still matches). Redis' own cmsgpack is no
 * use here: it fails on extension types (Date, Map, Set, BigInt, typed arrays) and turns an empty
 * object into an empty array. Path edits are therefore not scripts: see path-edits.ts.
 */

// Every write of the map: a new version from the shared clock (so a key deleted and written again
// never reuses a version), then an event `kind | u32 length | redis key | value` on the channel.
const WRITE = `
local function publish (kind, value)
  redis.call('PUBLISH', ARGV[1], kind .. struct.pack('>I4', #KEYS[1]) .. KEYS[1] .. (value or ''))
end
local function write (value)
  redis.call('HSET', KEYS[1], 'v', value, 'n', redis.call('INCR', KEYS[2]))
  publish('s', value)
end
`

// MessagePack numbers, exactly as @msgpack/msgpack writes them: safe integers in the smallest
// integer format, everything else as float 64. Lua numbers are doubles, like JavaScript's.
const NUMBERS = `
local LENGTHS = { [0xcc] = 2, [0xcd] = 3, [0xce] = 5, [0xcf] = 9, [0xd0] = 2, [0xd1] = 3, [0xd2] = 5,
  [0xd3] = 9, [0xca] = 5, [0xcb] = 9 }
local function decode_number (raw)
  local head = string.byte(raw, 1)
  if head == nil then return nil end
  if #raw == 1 then
    if head <= 0x7f then return head end
    if head >= 0xe0 then return head - 256 end
    return nil
  end
  if LENGTHS[head] ~= #raw then return nil end
  if head == 0xcc then return string.byte(raw, 2) end
  if head == 0xcd then return (struct.unpack('>H', raw, 2)) end
  if head == 0xce then return (struct.unpack('>I4', raw, 2)) end
  if head == 0xcf then
    local high, low = struct.unpack('>I4I4', raw, 2)
    return high * 4294967296 + low
  end
  if head == 0xd0 then return (struct.unpack('>b', raw, 2)) end
  if head == 0xd1 then return (struct.unpack('>h', raw, 2)) end
  if head == 0xd2 then return (struct.unpack('>i4', raw, 2)) end
  if head == 0xd3 then
    local high, low = struct.unpack('>i4I4', raw, 2)
    return high * 4294967296 + low
  end
  if head == 0xca then return (struct.unpack('>f', raw, 2)) end
  return (struct.unpack('>d', raw, 2))
end
local function encode_number (x)
  if x == math.floor(x) and x >= -9007199254740991 and x <= 9007199254740991 then
    if x >= 0 then
      if x < 0x80 then return string.char(x) end
      if x < 0x100 then return struct.pack('>BB', 0xcc, x) end
      if x < 0x10000 then return struct.pack('>BH', 0xcd, x) end
      if x < 0x100000000 then return struct.pack('>BI4', 0xce, x) end
      local high = math.floor(x / 4294967296)
      return struct.pack('>BI4I4', 0xcf, high, x - high * 4294967296)
    end
    if x >= -0x20 then return string.char(256 + x) end
    if x >= -0x80 then return struct.pack('>Bb', 0xd0, x) end
    if x >= -0x8000 then return struct.pack('>Bh', 0xd1, x) end
    if x >= -0x80000000 then return struct.pack('>Bi4', 0xd2, x) end
    local high = math.floor(x / 4294967296)
    return struct.pack('>BI4I4', 0xd3, high + 4294967296, x - high * 4294967296)
  end
  return struct.pack('>Bd', 0xcb, x)
end
`

// Map scripts: KEYS = [data key, clock], ARGV[1] = the events channel.
// A ttl of 0 clears any expiry, as a plain set does.
const SET = WRITE + `
write(ARGV[2])
if tonumber(ARGV[3]) > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[3]) else redis.call('PERSIST', KEYS[1]) end
return 1
`

const SET_IF_ABSENT = WRITE + `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
write(ARGV[2])
if tonumber(ARGV[3]) > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return 1
`

const DELETE = WRITE + `
if redis.call('DEL', KEYS[1]) == 0 then return 0 end
publish('d')
return 1
`

// ARGV[2] = by, ARGV[3] = ttl for a key this call creates. Returns the new value's bytes, or nil
// when the current value is not a number. HSET keeps an existing key's TTL, as every write but
// set() does.
const INCR = WRITE + NUMBERS + `
local current = redis.call('HGET', KEYS[1], 'v')
local number = 0
if current then number = decode_number(current) end
if number == nil then return nil end
local result = encode_number(number + tonumber(ARGV[2]))
write(result)
if not current and tonumber(ARGV[3]) > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return result
`

// ARGV[2] = value, ARGV[3] = the version the caller read (0: absent).
const SET_IF_VERSION = WRITE + `
local version = redis.call('HGET', KEYS[1], 'n')
if (tonumber(version) or 0) ~= tonumber(ARGV[3]) then return 0 end
write(ARGV[2])
return 1
`

// ARGV[2] = '1' when a value is expected ('0': the key must be absent), ARGV[3] = expected bytes,
// ARGV[4] = next bytes. Compares the stored bytes with the expected bytes exactly.
const COMPARE_AND_SET = WRITE + `
local current = redis.call('HGET', KEYS[1], 'v')
if ARGV[2] == '0' then
  if current then return 0 end
elseif current ~= ARGV[3] then
  return 0
end
write(ARGV[4])
return 1
`

// KEYS = [data key], ARGV[1] = ttl in ms (0: no expiry). Not a write: no version, no event.
const EXPIRE = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if tonumber(ARGV[1]) > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) else redis.call('PERSIST', KEYS[1]) end
return 1
`

// KEYS = data keys found by SCAN: their values in one consistent step (nil where one went since).
const VALUES = `
local values = {}
for i, key in ipairs(KEYS) do values[i] = redis.call('HGET', key, 'v') end
return values
`

// Lock scripts: KEYS = [holder, queue, waiters, fence] (a prefix of it), see keys.ts.
// ARGV[1] = this process' id in the queue, ARGV[2] = a random token for this grant,
// ARGV[3] = lease ms, ARGV[4] = ms a waiter may go without checking in before it counts as gone.
// Returns {1, fencing token} when granted, else {0, ms left on the holder's lease}.
//
// Fairness: the lock goes to the process at the head of the queue (or to anyone when nobody
// queues). A process that died while queued stops checking in and is dropped when it reaches the
// head. The fencing token comes from INCR, raised to the Redis clock in microseconds when that is
// higher, so tokens keep increasing even if Redis restarts without its data.
const LOCK_ACQUIRE = `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
while true do
  local head = redis.call('LINDEX', KEYS[2], 0)
  if not head then break end
  local deadline = redis.call('ZSCORE', KEYS[3], head)
  if deadline and tonumber(deadline) > now then break end
  redis.call('LPOP', KEYS[2])
  redis.call('ZREM', KEYS[3], head)
end
local head = redis.call('LINDEX', KEYS[2], 0)
if ((not head) or head == ARGV[1]) and redis.call('SET', KEYS[1], ARGV[2], 'NX', 'PX', ARGV[3]) then
  if head then
    redis.call('LPOP', KEYS[2])
    redis.call('ZREM', KEYS[3], ARGV[1])
  end
  local fence = redis.call('INCR', KEYS[4])
  local floor = tonumber(time[1]) * 1000000 + tonumber(time[2])
  if fence < floor then
    fence = floor
    redis.call('SET', KEYS[4], string.format('%.0f', fence))
  end
  return { 1, fence }
end
if not redis.call('ZSCORE', KEYS[3], ARGV[1]) then redis.call('RPUSH', KEYS[2], ARGV[1]) end
redis.call('ZADD', KEYS[3], now + tonumber(ARGV[4]), ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
redis.call('PEXPIRE', KEYS[3], ARGV[4])
return { 0, redis.call('PTTL', KEYS[1]) }
`

// KEYS = [holder, queue]; ARGV = [token, channel, lock name]. Compare-and-delete: only the holder
// whose token is still there releases. The process first in the queue is woken by one message,
// `<its id> <lock name>`; the others need not try.
const LOCK_RELEASE = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
local head = redis.call('LINDEX', KEYS[2], 0)
if head then redis.call('PUBLISH', ARGV[2], head .. ' ' .. ARGV[3]) end
return 1
`

// KEYS = [holder]; ARGV = [token, lease ms]. Extends the lease only while the token is there.
const LOCK_RENEW = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`

// KEYS = [holder, queue, waiters]; ARGV = [process id, channel, lock name]. A process with nobody
// left waiting leaves the queue; if it was at the head of a free lock, the next one is woken.
// Ids are hex, so the first space of a wake-up message ends the id.
const LOCK_LEAVE = `
local head = redis.call('LINDEX', KEYS[2], 0)
redis.call('LREM', KEYS[2], 0, ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
if head == ARGV[1] and redis.call('EXISTS', KEYS[1]) == 0 then
  local following = redis.call('LINDEX', KEYS[2], 0)
  if following then redis.call('PUBLISH', ARGV[2], following .. ' ' .. ARGV[3]) end
end
return 1
`

type Arg = string | number | Buffer | Uint8Array

/** The commands `defineScripts` adds; `...Buffer` variants return bulk replies as Buffers. */
export interface ScriptCommands {
  ssSet: (data: string, clock: string, channel: string, value: Arg, ttl: number) => Promise<number>
  ssSetIfAbsent: (data: string, clock: string, channel: string, value: Arg, ttl: number) => Promise<number>
  ssDelete: (data: string, clock: string, channel: string) => Promise<number>
  ssIncrBuffer: (data: string, clock: string, channel: string, by: string, ttl: number) => Promise<Buffer | null>
  ssSetIfVersion: (data: string, clock: string, channel: string, value: Arg, version: number) => Promise<number>
  ssCompareAndSet: (data: string, clock: string, channel: string, hasExpected: '0' | '1', expected: Arg, next: Arg) => Promise<number>
  ssExpire: (data: string, ttl: number) => Promise<number>
  ssValuesBuffer: (count: number, ...keys: string[]) => Promise<Array<Buffer | null>>
  ssLockAcquire: (holder: string, queue: string, waiters: string, fence: string, owner: string, token: string, lease: number, waiterTtl: number) => Promise<[number, number]>
  ssLockRelease: (holder: string, queue: string, token: string, channel: string, name: string) => Promise<number>
  ssLockRenew: (holder: string, token: string, lease: number) => Promise<number>
  ssLockLeave: (holder: string, queue: string, waiters: string, owner: string, channel: string, name: string) => Promise<number>
}

export type ScriptedRedis = Redis & ScriptCommands

const DEFINITIONS: Array<[string, string, number | undefined]> = [
  ['ssSet', SET, 2],
  ['ssSetIfAbsent', SET_IF_ABSENT, 2],
  ['ssDelete', DELETE, 2],
  ['ssIncr', INCR, 2],
  ['ssSetIfVersion', SET_IF_VERSION, 2],
  ['ssCompareAndSet', COMPARE_AND_SET, 2],
  ['ssExpire', EXPIRE, 1],
  // Variable number of keys: the caller passes the count first.
  ['ssValues', VALUES, undefined],
  ['ssLockAcquire', LOCK_ACQUIRE, 4],
  ['ssLockRelease', LOCK_RELEASE, 2],
  ['ssLockRenew', LOCK_RENEW, 1],
  ['ssLockLeave', LOCK_LEAVE, 3]
]

/** Registers every script on `client` (once per connection) and returns it typed. */
export function defineScripts (client: Redis): ScriptedRedis {
  for (const [name, lua, numberOfKeys] of DEFINITIONS) {
    client.defineCommand(name, numberOfKeys === undefined ? { lua } : { lua, numberOfKeys })
  }
  return client as ScriptedRedis
}
