-- A post's status check-and-set, with its index entries and fields; returns 1 if it applied.
-- A claim for publishing (to = publishing, no owner given) needs a due schedule or an expired lease;
-- with an owner, only the lease holder may change the post. to = '' changes fields only.
-- KEYS: post, scheduled zset, publishing zset, finishing set.
-- ARGV: post id, allowed statuses (space separated), to, now, index score, owner, field/value pairs...
local st = redis.call('HGET', KEYS[1], 'status')
if not st then return 0 end
local allowed = false
for s in string.gmatch(ARGV[2], '%S+') do if s == st then allowed = true end end
if not allowed then return 0 end
local now = tonumber(ARGV[4])
if ARGV[6] ~= '' then
  if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[6] then return 0 end
elseif ARGV[3] == 'publishing' then
  if st == 'scheduled' and tonumber(redis.call('HGET', KEYS[1], 'scheduled_at') or '0') > now then return 0 end
  if st == 'publishing' and tonumber(redis.call('HGET', KEYS[1], 'lease_until') or '0') > now then return 0 end
end
for i = 7, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
local to = ARGV[3]
if to ~= '' then
  redis.call('HSET', KEYS[1], 'status', to)
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('ZREM', KEYS[3], ARGV[1])
  if to == 'scheduled' then redis.call('ZADD', KEYS[2], ARGV[5], ARGV[1]) end
  if to == 'publishing' then redis.call('ZADD', KEYS[3], ARGV[5], ARGV[1]) end
  if to == 'published' then redis.call('SADD', KEYS[4], ARGV[1]) end
elseif ARGV[5] ~= '' and st == 'publishing' then
  redis.call('ZADD', KEYS[3], ARGV[5], ARGV[1])
end
return 1
