-- A slow handler finished (it ran once, after its claim): its final outcome and its effects.
--#include _apply
return apply(KEYS, ARGV, #KEYS)
