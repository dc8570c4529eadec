-- Store a follower's question (see _add_question.lua) on its own, e.g. from tests and the batch benchmark.
--#include _add_question
return add_question(KEYS, ARGV)
