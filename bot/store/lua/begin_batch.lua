-- Start a batch: claim the schedule slot (if any) and create the post, unless nothing is pending.
-- Returns the post id, '' (nothing to batch) or nil (slot already claimed by another process).
-- KEYS: slot claim, pending zset, post seq, posts zset, batching set.
-- ARGV: post key prefix, now, cutoff, claim ttl, slot ('' for a manual run).
if ARGV[5] ~= '' and not redis.call('SET', KEYS[1], 'claimed', 'NX', 'EX', ARGV[4]) then return false end
if redis.call('ZCOUNT', KEYS[2], '-inf', ARGV[3]) == 0 then return '' end
local id = tostring(redis.call('INCR', KEYS[3]))
redis.call('HSET', ARGV[1] .. id, 'id', id, 'status', 'batching', 'created', ARGV[2], 'cutoff', ARGV[3],
           'slot', ARGV[5])
redis.call('ZADD', KEYS[4], ARGV[2], id)
redis.call('SADD', KEYS[5], id)
if ARGV[5] ~= '' then redis.call('SET', KEYS[1], id, 'EX', ARGV[4]) end
return id
