-- Moves a GCRA state by delta units (tokens): positive charges more, negative gives back.
-- KEYS[1]: the state hash. ARGV: epoch (unix s), delta, window_ms.
-- A missing state (nothing acquired for over a window) is left missing.
local stored_t = redis.call('HGET', KEYS[1], 't')
local stored_i = redis.call('HGET', KEYS[1], 'i')
if not stored_t or not stored_i then return 0 end
local t = redis.call('TIME')
local now = (tonumber(t[1]) - tonumber(ARGV[1])) * 1000000 + tonumber(t[2])
local delta = tonumber(ARGV[2])
local window_ms = tonumber(ARGV[3])
local tat = tonumber(stored_t)
if tat < now then tat = now end
tat = tat + delta * tonumber(stored_i)
if tat < now then tat = now end
redis.call('HSET', KEYS[1], 't', string.format('%.3f', tat))
redis.call('PEXPIRE', KEYS[1], math.ceil((tat - now) / 1000) + window_ms)
return 1
