"""The Lua scripts of the Redis transport (:mod:`arenaflow.transport.redis`) and how their
arguments are packed. Each checks the partition's lease token first (where it has one), so a
process that lost its lease can neither read, acknowledge nor publish for the partition."""

from __future__ import annotations

import struct
from collections.abc import Iterable

# KEYS[1] lease, KEYS[2] epoch; ARGV[1] worker id, ARGV[2] ttl ms -> {token, epoch} or false
ACQUIRE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
local epoch = redis.call('INCR', KEYS[2])
local token = ARGV[1] .. '/' .. epoch
redis.call('SET', KEYS[1], token, 'PX', ARGV[2])
return {token, epoch}
"""
# KEYS[1] lease; ARGV[1] token, ARGV[2] ttl ms -> 1 renewed, 0 lost
RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1
end
return 0
"""
# KEYS[1] lease; ARGV[1] token -> 1 released
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) return 1 end
return 0
"""
# KEYS[1] lease, KEYS[2] stream; ARGV[1] token, ARGV[2] group, ARGV[3] consumer, ARGV[4] count
# -> false (lost) | {1, entries} | {0, last id of the stream}
READ = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return false end
local got = redis.call('XREADGROUP', 'GROUP', ARGV[2], ARGV[3], 'COUNT', ARGV[4],
                       'STREAMS', KEYS[2], '>')
if got then return {1, got[1][2]} end
local last = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
if #last > 0 then return {0, last[1][1]} end
return {0, '0-0'}
"""
# KEYS[1] lease, KEYS[2] stream; ARGV[1] token, ARGV[2] group, ARGV[3] consumer, ARGV[4..] ids
# -> false (lost) | entries (without those trimmed or acked meanwhile)
CLAIM_SOME = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return false end
return redis.call('XCLAIM', KEYS[2], ARGV[2], ARGV[3], 0, unpack(ARGV, 4))
"""
# KEYS[1] lease, KEYS[2] stream; ARGV[1] token, ARGV[2] group, ARGV[3] consumer
# -> false (lost) | entries moved to the consumer (ids only: no delivery is counted)
CLAIM_ALL = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return false end
local cursor, moved = '0-0', 0
repeat
  local got = redis.call('XAUTOCLAIM', KEYS[2], ARGV[2], ARGV[3], 0, cursor,
                         'COUNT', 1000, 'JUSTID')
  cursor = got[1]
  moved = moved + #got[2]
until cursor == '0-0'
return moved
"""
# Acknowledges the offsets of runs "first,last;..." (see runs) of KEYS[2] for group ARGV[2], a
# thousand ids per XACK (Lua's unpack has a stack limit) -> how many were pending.
XACK_RUNS = """
local function xack_runs(stream, group, runs)
  local ids, acked = {}, 0
  for first, last in string.gmatch(runs, '(%d+),(%d+)') do
    for offset = tonumber(first), tonumber(last) do
      ids[#ids + 1] = string.format('0-%d', offset + 1)
      if #ids == 1000 then
        acked = acked + redis.call('XACK', stream, group, unpack(ids))
        ids = {}
      end
    end
  end
  if #ids > 0 then acked = acked + redis.call('XACK', stream, group, unpack(ids)) end
  return acked
end
"""
# KEYS[1] lease, KEYS[2] stream; ARGV[1] token, ARGV[2] group, ARGV[3] runs -> acked or -1
ACK = (
    XACK_RUNS
    + """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
return xack_runs(KEYS[2], ARGV[2], ARGV[3])
"""
)
# KEYS[1] lease ('' for none), KEYS[2] stream to ack ('' for none), KEYS[3..] streams;
# ARGV[1] token, ARGV[2] group to ack, ARGV[3] the runs of offsets to ack, then the timestamp
# of every entry, the number of distinct headers, the headers, and the entries packed in one
# argument (per entry: stream index into KEYS, index into the headers, key length, value
# length, both big-endian (ROW), then the key and the value) -> ids or -1. Packed, not four
# arguments each: redis-py encodes arguments one by one, the costliest part of publishing.
PUBLISH = (
    XACK_RUNS
    + """
if KEYS[1] ~= '' and redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
if ARGV[3] ~= '' then xack_runs(KEYS[2], ARGV[2], ARGV[3]) end
local t = ARGV[4]
local first = 6
local rows = ARGV[first + tonumber(ARGV[5])]
local ids, pos, n = {}, 1, #rows
while pos <= n do
  local s, h, kl, vl, at = struct.unpack('>HHHI4', rows, pos)
  local value = string.sub(rows, at + kl, at + kl + vl - 1)
  if kl == 0 then
    ids[#ids + 1] = redis.call('XADD', KEYS[s], '0-*', 'v', value, 't', t, 'h', ARGV[first + h])
  else
    ids[#ids + 1] = redis.call('XADD', KEYS[s], '0-*', 'v', value, 't', t, 'h', ARGV[first + h],
                               'k', string.sub(rows, at, at + kl - 1))
  end
  pos = at + kl + vl
end
return ids
"""
)
#: One entry's header in PUBLISH's packed argument.
ROW = struct.Struct(">HHHI")

#: By name, as the transport registers them.
SCRIPTS = {
    "acquire": ACQUIRE,
    "renew": RENEW,
    "release": RELEASE,
    "read": READ,
    "claim_some": CLAIM_SOME,
    "claim_all": CLAIM_ALL,
    "ack": ACK,
    "publish": PUBLISH,
}


def runs(offsets: Iterable[int]) -> str:
    """Offsets as runs of consecutive ones, "first,last;..." (a batch's are mostly one run):
    what the scripts acknowledge, in one argument rather than an id each.

    >>> runs([7, 3, 4, 5, 9, 8])
    '3,5;7,9'
    """
    out: list[str] = []
    first = last = -2
    for offset in sorted(offsets):
        if offset == last + 1:
            last = offset
            continue
        if last >= 0:
            out.append(f"{first},{last}")
        first = last = offset
    if last >= 0:
        out.append(f"{first},{last}")
    return ";".join(out)
