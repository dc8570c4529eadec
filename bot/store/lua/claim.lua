-- Claim a push's dedup key and, only if this call claimed it, store its value and apply its effects.
-- One round trip: returns the value already stored (a retry), else nil, or 1 when a 'flag' effect's
-- key exists (e.g. answer links waiting for this follower); -1 for a forgery (see _claim.lua).
--#include _claim
return claim(KEYS, ARGV)
