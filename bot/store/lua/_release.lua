-- Some of a follower's questions no longer need their openid: take them out of the follower's open
-- questions, and forget the openid (the record) when none is left. A question of an earlier record (asked
-- before an unsubscribe) is in no open set of a later one, so it can never release a newer record.
-- release(follower, open set, first question id's ARGV index)
local function release(follower, open, first)
  for i = first, #ARGV do redis.call('SREM', open, ARGV[i]) end
  if redis.call('SCARD', open) == 0 then return redis.call('DEL', follower, open) end
  return 0
end
