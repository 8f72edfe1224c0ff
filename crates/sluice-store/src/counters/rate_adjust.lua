-- Moves a GCRA state by delta units: positive charges more, negative gives back (never
-- below an empty bucket). KEYS[1]: the state (TAT, µs since the epoch).
-- ARGV: epoch (unix s), delta, limit, window_ms. A missing state (nothing acquired for
-- over a window) is left missing.
local stored = redis.call('GET', KEYS[1])
if not stored then return 0 end
local t = redis.call('TIME')
local now = (tonumber(t[1]) - tonumber(ARGV[1])) * 1000000 + tonumber(t[2])
local window_ms = tonumber(ARGV[4])
local interval = window_ms * 1000 / tonumber(ARGV[3])
local tat = tonumber(stored)
if tat < now then tat = now end
tat = tat + tonumber(ARGV[2]) * interval
if tat < now then tat = now end
redis.call('SET', KEYS[1], string.format('%.3f', tat), 'PX', math.ceil((tat - now) / 1000) + window_ms)
return 1
