-- An asker was told (or cannot be): drop the claim and, only if it was still held, release the entry's
-- questions, so a re-driven claim never releases twice. KEYS: notifying zset, follower, follower's open
-- questions. ARGV: entry, question ids...
--#include _release
if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then return 0 end
release(KEYS[2], KEYS[3], 2)
return 1
