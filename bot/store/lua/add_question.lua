-- Store a question unless it repeats one of the follower's recent questions still being dealt with
-- (pending, batched, answered, or merged into a group not yet published; a repeat of a rejected or
-- published one is a new question) or exceeds their daily limit. With an openid (askers are told), the
-- follower record keeps it and the question is tracked among the follower's open questions.
-- A stored question is also counted under its topic in the day's statistics (the dashboard's chart).
-- KEYS: dup, day counter, question seq, pending zset, follower, follower's open questions, day's stats.
-- ARGV: question key prefix, post key prefix, now, limit, dup ttl, day ttl, openid ('': keep none),
-- stats ttl, field/value pairs...
if redis.call('EXISTS', KEYS[5]) == 1 then redis.call('HSET', KEYS[5], 'last_seen', ARGV[3]) end
local existing = redis.call('GET', KEYS[1])
if existing then
  local f = redis.call('HMGET', ARGV[1] .. existing, 'status', 'post')
  local st = f[1]
  if st == 'merged' and f[2] and redis.call('HGET', ARGV[2] .. f[2], 'status') == 'published' then st = 'published' end
  if st == 'new' or st == 'batched' or st == 'answered' or st == 'merged' then return {'dup', existing} end
end
local used = tonumber(redis.call('GET', KEYS[2]) or '0')
if used >= tonumber(ARGV[4]) then return {'limit', tostring(used)} end
local id = tostring(redis.call('INCR', KEYS[3]))
local q = ARGV[1] .. id
local tell = ARGV[7] ~= ''
redis.call('HSET', q, 'id', id, 'status', 'new', 'received', ARGV[3], 'notify', tell and '1' or '0')
for i = 9, #ARGV, 2 do redis.call('HSET', q, ARGV[i], ARGV[i + 1]) end
redis.call('ZADD', KEYS[4], ARGV[3], id)
redis.call('SET', KEYS[1], id, 'EX', ARGV[5])
redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], ARGV[6])
redis.call('HINCRBY', KEYS[7], redis.call('HGET', q, 'topic') or '', 1)
redis.call('EXPIRE', KEYS[7], ARGV[8])
if tell then
  redis.call('HSET', KEYS[5], 'openid', ARGV[7], 'last_seen', ARGV[3])
  redis.call('SADD', KEYS[6], id)
end
return {'new', id}
