--#include _apply
-- claim(K, A): claim a push's dedup key and, only if this call claimed it, store its value and apply its
-- effects. Returns the value already stored (a retry), -1 (a forgery, see below), else what apply returns.
-- A plaintext push's binding comes last (key K[#K], body digest and TTL the last two of A): the first
-- body seen under a signature owns it; another body under it answers -1 and changes nothing.
local function claim(K, A)
  local nkeys = #K
  local digest = A[#A - 1]
  if digest ~= '' then
    local bound = redis.call('GET', K[nkeys])
    if bound and bound ~= digest then return -1 end
    if not bound then redis.call('SET', K[nkeys], digest, 'EX', A[#A]) end
    nkeys = nkeys - 1
  end
  local old = redis.call('GET', K[1])
  if old then return old end
  return apply(K, A, nkeys)
end
