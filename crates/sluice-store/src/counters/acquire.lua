-- One admission, all or nothing: GCRA rate limits and concurrency slots across every
-- level of a chain, plus (only when everything fits) spare units and slots that the
-- calling instance leases to spend locally (see leases.rs).
--
-- KEYS: the rate states (n_rate), then the slot sets (n_slot).
--   A rate state is a string: its theoretical arrival time (TAT), µs since ARGV[1].
--   A slot set is a sorted set: member -> expiry (unix ms).
-- ARGV: epoch (unix s), n_rate, then per rate level: limit, window_ms, amount, want;
--   n_slot, slot ttl ms, member prefix, first member number, then per slot level:
--   limit, want. Slot members are prefix..n for n from the first member number up.
-- "want" is how many extra units (slots) the caller would like to hold; it gets at most
-- a quarter of what is left after this admission, so leases shrink to nothing near a
-- limit and every decision there is made here, exactly.
-- Returns {1, extra rate units per level..., extra slots per level...} when admitted;
-- {0, index, retry_after_ms, limit, remaining, reset_ms} for the first rate level that
-- refuses; {2, index} for the first full slot level. Nothing is written unless admitted.
local t = redis.call('TIME')
local epoch = tonumber(ARGV[1])
local now = (tonumber(t[1]) - epoch) * 1000000 + tonumber(t[2])
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local n_rate = tonumber(ARGV[2])
local arg = 3
local rates = {}
local pending = {}
for i = 1, n_rate do
  local limit = tonumber(ARGV[arg])
  local window_ms = tonumber(ARGV[arg + 1])
  local amount = tonumber(ARGV[arg + 2])
  local want = tonumber(ARGV[arg + 3])
  arg = arg + 4
  local window = window_ms * 1000
  -- A key named twice sees its first share taken.
  local tat = pending[KEYS[i]]
  if tat == nil then tat = tonumber(redis.call('GET', KEYS[i]) or now) end
  if tat < now then tat = now end
  if limit <= 0 or amount > limit then
    local remaining = 0
    if limit > 0 then
      remaining = math.floor((window - (tat - now)) / (window / limit) + 1e-9)
    end
    return {0, i - 1, window_ms, limit, remaining, math.ceil((tat - now) / 1000)}
  end
  local interval = window / limit
  local new_tat = tat + amount * interval
  if new_tat - now > window + 0.5 then
    local remaining = math.floor((window - (tat - now)) / interval + 1e-9)
    if remaining < 0 then remaining = 0 end
    return {0, i - 1, math.ceil((new_tat - window - now) / 1000), limit, remaining,
            math.ceil((tat - now) / 1000)}
  end
  pending[KEYS[i]] = new_tat
  rates[i] = {new_tat, interval, window, window_ms, want}
end
local n_slot = tonumber(ARGV[arg])
local ttl = tonumber(ARGV[arg + 1])
local prefix = ARGV[arg + 2]
local first_member = tonumber(ARGV[arg + 3])
arg = arg + 4
local slots = {}
for j = 1, n_slot do
  local key = KEYS[n_rate + j]
  local limit = tonumber(ARGV[arg])
  local want = tonumber(ARGV[arg + 1])
  arg = arg + 2
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now_ms)
  local held = redis.call('ZCARD', key)
  if held >= limit then return {2, j - 1} end
  slots[j] = {limit - held - 1, want}
end
local reply = {1}
for i = 1, n_rate do
  local r = rates[i]
  local left = math.floor((r[3] - (r[1] - now)) / r[2] + 1e-9)
  local extra = math.min(r[5], math.floor(left / 4))
  if extra < 0 then extra = 0 end
  local new_tat = r[1] + extra * r[2]
  redis.call('SET', KEYS[i], string.format('%.3f', new_tat),
             'PX', math.ceil((new_tat - now) / 1000) + r[4])
  reply[#reply + 1] = extra
end
for j = 1, n_slot do
  local key = KEYS[n_rate + j]
  local s = slots[j]
  local extra = math.min(s[2], math.floor(s[1] / 4))
  if extra < 0 then extra = 0 end
  -- Members are unique per set: the caller reserves the numbers of the largest grant.
  for m = 0, extra do
    redis.call('ZADD', key, now_ms + ttl, prefix .. (first_member + m))
  end
  redis.call('PEXPIRE', key, ttl)
  reply[#reply + 1] = extra
end
return reply
