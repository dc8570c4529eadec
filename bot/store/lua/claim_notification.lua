-- Claim the next asker to tell: one whose claim is older than the lease (its teller died) first, else
-- the head of the queue; the claim is kept, with its time, until ack_notification.lua removes it.
-- KEYS: notify list, notifying zset. ARGV: now, stale (claims at or before this are re-driven).
local item = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[2], 'LIMIT', 0, 1)[1]
if not item then item = redis.call('LPOP', KEYS[1]) end
if not item then return false end
redis.call('ZADD', KEYS[2], ARGV[1], item)
return item
