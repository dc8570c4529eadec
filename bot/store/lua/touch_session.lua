-- Record a use of a live session and extend its lifetime; never revives an ended one.
-- KEYS: the session hash; ARGV: seen (epoch s), ttl s. Returns 0 when the session has ended.
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'seen', ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
