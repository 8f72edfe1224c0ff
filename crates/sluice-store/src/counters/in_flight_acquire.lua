-- Concurrency leases, all or nothing. KEYS[i]: a sorted set of lease ids scored by their
-- expiry (unix ms). ARGV[1]: lease ttl ms, ARGV[2]: the lease id, ARGV[2 + i]: KEYS[i]'s
-- limit. Expired leases (a crashed instance's) are dropped first.
-- Returns -1 when admitted, else the 0-based index of the first full key.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[1])
for i = 1, #KEYS do
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now)
  if redis.call('ZCARD', KEYS[i]) >= tonumber(ARGV[2 + i]) then
    return i - 1
  end
end
for i = 1, #KEYS do
  redis.call('ZADD', KEYS[i], now + ttl, ARGV[2])
  -- Extend, never shorten, the set's life: it must outlive its longest lease.
  if redis.call('PTTL', KEYS[i]) < ttl then redis.call('PEXPIRE', KEYS[i], ttl) end
end
return -1
