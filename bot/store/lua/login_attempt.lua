-- Admit a log-in attempt unless the account's or the address's recent failures lock it out.
-- KEYS: account failures zset, address failures zset (score = time of the attempt).
-- ARGV: now, window s, max per account, max per address, first lockout s, longest lockout s, member, ttl s.
-- An admitted attempt counts as a failure until the caller removes it (a success), so parallel guesses are
-- counted too. Returns {0} when admitted, else {1 (account) or 2 (address), "locked until" as a string}.
local now, window = tonumber(ARGV[1]), tonumber(ARGV[2])
local limits = {tonumber(ARGV[3]), tonumber(ARGV[4])}
local first, longest = tonumber(ARGV[5]), tonumber(ARGV[6])
for i = 1, 2 do
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - window)
  local n = redis.call('ZCARD', KEYS[i])
  if n >= limits[i] then
    local last = tonumber(redis.call('ZRANGE', KEYS[i], -1, -1, 'WITHSCORES')[2])
    local until_ = last + math.min(longest, first * 2 ^ (n - limits[i]))
    if until_ > now then return {i, tostring(until_)} end
  end
end
for i = 1, 2 do
  redis.call('ZADD', KEYS[i], now, ARGV[7])
  redis.call('EXPIRE', KEYS[i], ARGV[8])
end
return {0}
