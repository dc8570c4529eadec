-- Read fields of the questions in a post, a range at a time, in one reply (a pipelined HMGET per
-- question costs ten times more in redis-py). KEYS: post questions zset.
-- ARGV: question key prefix, start, stop, field names... Returns id, fields..., id, fields...
local ids = redis.call('ZRANGE', KEYS[1], ARGV[2], ARGV[3])
local out = {}
local names = {}
for i = 4, #ARGV do names[#names + 1] = ARGV[i] end
for _, id in ipairs(ids) do
  out[#out + 1] = id
  local values = redis.call('HMGET', ARGV[1] .. id, unpack(names))
  for j = 1, #names do out[#out + 1] = values[j] or '' end
end
return out
