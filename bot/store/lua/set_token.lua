-- Replace a user's API token: the old hash's lookup key goes, the new one (if any) maps to the user.
-- KEYS: user hash; ARGV: token key prefix, new hash ('' to revoke), name, created. Returns -1: no such user,
-- else 1 if a token was replaced or removed, 0 if there was none.
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local old = redis.call('HGET', KEYS[1], 'token')
if old then redis.call('DEL', ARGV[1] .. old) end
if ARGV[2] == '' then
  redis.call('HDEL', KEYS[1], 'token', 'token_created')
else
  redis.call('SET', ARGV[1] .. ARGV[2], ARGV[3])
  redis.call('HSET', KEYS[1], 'token', ARGV[2], 'token_created', ARGV[4])
end
if old then return 1 end
return 0
