-- Store a push's outcome under its dedup key (KEYS[1], ARGV[1], TTL ARGV[2]) and apply the handler's
-- effects (KEYS[2..nkeys], op/value/arg triples from ARGV[3]); returns 1 when a 'flag' effect's key exists.
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
local a = 3
local flagged = false
for i = 2, nkeys do
  local op = ARGV[a]
  if op == 'flag' then
    if redis.call('EXISTS', KEYS[i]) == 1 then flagged = 1 end
  elseif op == 'hincr' then
    redis.call('HINCRBY', KEYS[i], ARGV[a + 1], 1)
    redis.call('EXPIRE', KEYS[i], ARGV[a + 2])
  elseif op == 'touch' then
    if redis.call('EXISTS', KEYS[i]) == 1 then redis.call('HSET', KEYS[i], 'last_seen', ARGV[a + 1]) end
  elseif op == 'push' then
    redis.call('LPUSH', KEYS[i], ARGV[a + 1])
    redis.call('LTRIM', KEYS[i], 0, tonumber(ARGV[a + 2]) - 1)
  elseif op == 'expire' then
    redis.call('EXPIRE', KEYS[i], ARGV[a + 2])
  end
  a = a + 3
end
return flagged
