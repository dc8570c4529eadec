-- Add an audit entry (newest first), keep at most ARGV[2], drop those recorded before ARGV[3] (epoch s).
-- KEYS: the audit list; ARGV: entry JSON (with "at", epoch s), cap, cutoff, ttl s.
redis.call('LPUSH', KEYS[1], ARGV[1])
redis.call('LTRIM', KEYS[1], 0, tonumber(ARGV[2]) - 1)
local cutoff = tonumber(ARGV[3])
while true do
  local oldest = redis.call('LINDEX', KEYS[1], -1)
  if not oldest or tonumber(cjson.decode(oldest)['at']) >= cutoff then break end
  redis.call('RPOP', KEYS[1])
end
redis.call('EXPIRE', KEYS[1], ARGV[4])
return redis.call('LLEN', KEYS[1])
