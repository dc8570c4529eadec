-- Give a post's unanswered questions back to the pending queue (idempotent); returns how many.
-- Questions merged into an unanswered group go back too: they are no answer's questions any more.
-- KEYS: pending zset, post questions zset. ARGV: question key prefix, post id, question ids...
local n = 0
for i = 3, #ARGV do
  local q = ARGV[1] .. ARGV[i]
  local f = redis.call('HMGET', q, 'status', 'post', 'received')
  if (f[1] == 'batched' or f[1] == 'merged') and f[2] == ARGV[2] then
    redis.call('HSET', q, 'status', 'new', 'post', '', 'into', '')
    redis.call('ZADD', KEYS[1], f[3], ARGV[i])
    redis.call('ZREM', KEYS[2], ARGV[i])
    n = n + 1
  end
end
return n
