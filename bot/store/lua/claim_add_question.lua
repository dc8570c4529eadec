-- The dedup claim (claim.lua) and, only if this call claimed the push, the follower's question
-- (add_question.lua): one round trip, the question stored before the follower can be told anything.
-- KEYS: the claim's (ARGV[1] of them), then add_question's; ARGV: the claim's key and argument counts,
-- the claim's arguments, then add_question's. Returns what claim returns for a retry or a forgery, else
-- {flag (0, or 1 when a 'flag' effect's key exists), outcome, value} (see add_question).
--#include _claim
--#include _add_question
local nk, na = tonumber(ARGV[1]), tonumber(ARGV[2])
local claimed = claim({unpack(KEYS, 1, nk)}, {unpack(ARGV, 3, na + 2)})
if claimed ~= false and claimed ~= 1 then return claimed end
local stored = add_question({unpack(KEYS, nk + 1)}, {unpack(ARGV, na + 3)})
return {claimed == 1 and 1 or 0, stored[1], stored[2]}
