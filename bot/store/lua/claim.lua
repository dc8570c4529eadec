-- Claim a push's dedup key and, only if this call claimed it, store its value and apply its effects.
-- One round trip: returns the value already stored (a retry), else nil, or 1 when a 'flag' effect's
-- key exists (e.g. answer links waiting for this follower).
-- A plaintext push's binding comes last (key KEYS[#KEYS], body digest and TTL the last two ARGV): the
-- first body seen under a signature owns it; another body under it answers -1 and changes nothing.
local nkeys = #KEYS
local digest = ARGV[#ARGV - 1]
if digest ~= '' then
  local bound = redis.call('GET', KEYS[nkeys])
  if bound and bound ~= digest then return -1 end
  if not bound then redis.call('SET', KEYS[nkeys], digest, 'EX', ARGV[#ARGV]) end
  nkeys = nkeys - 1
end
local old = redis.call('GET', KEYS[1])
if old then return old end
--#include _apply
