-- Move up to ARGV[3] pending questions received by the cutoff into a post; returns how many moved, or
-- -1 (nothing moved) when the post is no longer batching: another process finished its batch (this
-- run's lock expired meanwhile), and its draft must not take questions its groups do not show.
-- KEYS: pending zset, post questions zset, post. ARGV: question key prefix, cutoff, count, post id.
if redis.call('HGET', KEYS[3], 'status') ~= 'batching' then return -1 end
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[2], 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[3]))
for i = 1, #ids, 2 do
  redis.call('ZREM', KEYS[1], ids[i])
  redis.call('ZADD', KEYS[2], ids[i + 1], ids[i])
  redis.call('HSET', ARGV[1] .. ids[i], 'status', 'batched', 'post', ARGV[4])
end
return #ids / 2
