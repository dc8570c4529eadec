-- Change fields of an existing user (never creates one); ARGV[1] = '' or a field to remove, then pairs.
-- KEYS: user hash. Returns 0 when the user does not exist.
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if ARGV[1] ~= '' then redis.call('HDEL', KEYS[1], ARGV[1]) end
if #ARGV > 1 then redis.call('HSET', KEYS[1], unpack(ARGV, 2)) end
return 1
