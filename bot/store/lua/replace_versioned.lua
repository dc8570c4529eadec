-- Replace a versioned document (the rules, the catalog); refuses (returns -1) if another admin changed it
-- since `expected`. KEYS: the document, its version counter. ARGV: the JSON, the expected version or ''.
local current = tonumber(redis.call('GET', KEYS[2]) or '0')
if ARGV[2] ~= '' and tonumber(ARGV[2]) ~= current then return -1 end
redis.call('SET', KEYS[1], ARGV[1])
return redis.call('INCR', KEYS[2])
