-- GCRA over several keys at once, all or nothing.
-- KEYS[i]: a hash {t = theoretical arrival time (us), i = emission interval (us)}.
-- ARGV[1]: the epoch (unix s) times are measured from, keeping them small enough for
-- exact doubles. ARGV[2 + 3(i-1) ..]: limit, window_ms, amount for KEYS[i].
-- Returns {1} when admitted (every state written), or
-- {0, index0, retry_after_ms, limit, remaining, reset_ms} for the first key that refuses
-- (nothing written).
local t = redis.call('TIME')
local now = (tonumber(t[1]) - tonumber(ARGV[1])) * 1000000 + tonumber(t[2])
local pending = {}
local plan = {}
for i = 1, #KEYS do
  local base = 2 + (i - 1) * 3
  local limit = tonumber(ARGV[base])
  local window_ms = tonumber(ARGV[base + 1])
  local window = window_ms * 1000
  local amount = tonumber(ARGV[base + 2])
  local tat = pending[KEYS[i]]
  if tat == nil then
    local stored = redis.call('HGET', KEYS[i], 't')
    tat = now
    if stored then tat = tonumber(stored) end
  end
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
  plan[i] = {new_tat, interval, window_ms}
end
for i = 1, #KEYS do
  local p = plan[i]
  redis.call('HSET', KEYS[i], 't', string.format('%.3f', p[1]), 'i', string.format('%.6f', p[2]))
  -- Keep the state one window past its drain time so rate_adjust still finds the interval.
  redis.call('PEXPIRE', KEYS[i], math.ceil((p[1] - now) / 1000) + p[3])
end
return {1}
