-- apply(K, A, nkeys): store a push's outcome under its dedup key (K[1], A[1], TTL A[2]) and apply the
-- handler's effects (K[2..nkeys], op/value/arg triples from A[3]); returns 1 when a 'flag' effect's key
-- exists, else false.
local function apply(K, A, nkeys)
  redis.call('SET', K[1], A[1], 'EX', A[2])
  local a = 3
  local flagged = false
  for i = 2, nkeys do
    local op = A[a]
    if op == 'flag' then
      if redis.call('EXISTS', K[i]) == 1 then flagged = 1 end
    elseif op == 'hincr' then
      redis.call('HINCRBY', K[i], A[a + 1], 1)
      redis.call('EXPIRE', K[i], A[a + 2])
    elseif op == 'touch' then
      if redis.call('EXISTS', K[i]) == 1 then redis.call('HSET', K[i], 'last_seen', A[a + 1]) end
    elseif op == 'push' then
      redis.call('LPUSH', K[i], A[a + 1])
      redis.call('LTRIM', K[i], 0, tonumber(A[a + 2]) - 1)
    elseif op == 'expire' then
      redis.call('EXPIRE', K[i], A[a + 2])
    end
    a = a + 3
  end
  return flagged
end
