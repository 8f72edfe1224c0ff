-- Raises a spend window to ARGV[1] if it is lower (never lowers it).
-- KEYS[1]: the window's counter. ARGV: nanos, ttl seconds. Returns the total, as a string.
local cur = redis.call('GET', KEYS[1])
if cur and tonumber(cur) >= tonumber(ARGV[1]) then return cur end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return ARGV[1]
