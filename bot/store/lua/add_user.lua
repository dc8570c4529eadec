-- Create a user unless the name is taken (or, with ARGV[1] = '1', unless any user exists: the first admin).
-- KEYS: user hash, users index; ARGV: only_if_none, name, then field/value pairs.
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
if ARGV[1] == '1' and redis.call('SCARD', KEYS[2]) > 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
redis.call('SADD', KEYS[2], ARGV[2])
return 1
