-- A slow handler finished (it ran once, after its claim): its final outcome and its effects.
local nkeys = #KEYS
--#include _apply
