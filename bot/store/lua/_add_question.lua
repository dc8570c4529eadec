-- Store a question unless it repeats one of the follower's recent questions still being dealt with
-- (pending, batched, answered, or merged into a group not yet published; a repeat of a rejected or
-- published one is a new question) or exceeds their daily limit. With an openid (askers are told), the
-- follower record keeps it and the question is tracked among the follower's open questions.
-- A stored question is also counted under its topic in the day's statistics (the dashboard's chart).
-- add_question(K, A); K: dup, day counter, question seq, pending zset, follower, follower's open questions,
-- day's stats.
-- A: question key prefix, post key prefix, now, limit, dup ttl, day ttl, openid ('': keep none),
-- stats ttl, field/value pairs...
local function add_question(K, A)
  if redis.call('EXISTS', K[5]) == 1 then redis.call('HSET', K[5], 'last_seen', A[3]) end
  local existing = redis.call('GET', K[1])
  if existing then
    local f = redis.call('HMGET', A[1] .. existing, 'status', 'post')
    local st = f[1]
    if st == 'merged' and f[2] and redis.call('HGET', A[2] .. f[2], 'status') == 'published' then st = 'published' end
    if st == 'new' or st == 'batched' or st == 'answered' or st == 'merged' then return {'dup', existing} end
  end
  local used = tonumber(redis.call('GET', K[2]) or '0')
  if used >= tonumber(A[4]) then return {'limit', tostring(used)} end
  local id = tostring(redis.call('INCR', K[3]))
  local q = A[1] .. id
  local tell = A[7] ~= ''
  redis.call('HSET', q, 'id', id, 'status', 'new', 'received', A[3], 'notify', tell and '1' or '0')
  for i = 9, #A, 2 do redis.call('HSET', q, A[i], A[i + 1]) end
  redis.call('ZADD', K[4], A[3], id)
  redis.call('SET', K[1], id, 'EX', A[5])
  redis.call('INCR', K[2])
  redis.call('EXPIRE', K[2], A[6])
  redis.call('HINCRBY', K[7], redis.call('HGET', q, 'topic') or '', 1)
  redis.call('EXPIRE', K[7], A[8])
  if tell then
    redis.call('HSET', K[5], 'openid', A[7], 'last_seen', A[3])
    redis.call('SADD', K[6], id)
  end
  return {'new', id}
end
