-- Keep (an empty body: drop) the menu edited for the next push; refuses (returns -1) if it changed since
-- `expected`. KEYS: the edited menu, its version counter. ARGV: menu/create's JSON or '', the expected version or ''.
local current = tonumber(redis.call('GET', KEYS[2]) or '0')
if ARGV[2] ~= '' and tonumber(ARGV[2]) ~= current then return -1 end
if ARGV[1] == '' then redis.call('DEL', KEYS[1]) else redis.call('SET', KEYS[1], ARGV[1]) end
return redis.call('INCR', KEYS[2])
