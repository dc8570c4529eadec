-- Count one API request in the caller's fixed window. KEYS: the caller's counter. ARGV: the window in seconds.
-- The first request of a window starts it (the key's TTL); returns {requests so far, seconds left}.
local n = redis.call('INCR', KEYS[1])
local ttl = redis.call('TTL', KEYS[1])
if n == 1 or ttl < 0 then
  redis.call('EXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {n, ttl}
