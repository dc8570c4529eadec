-- End every session of a user. KEYS: the user's session index; ARGV: session key prefix. Returns how many.
local ids = redis.call('SMEMBERS', KEYS[1])
local ended = 0
for _, id in ipairs(ids) do ended = ended + redis.call('DEL', ARGV[1] .. id) end
redis.call('DEL', KEYS[1])
return ended
