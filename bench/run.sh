#!/usr/bin/env bash
# All benchmarks; their figures go in the README. wrk drives the webhook benchmark.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
.venv/bin/python bench/bench_match.py
.venv/bin/python bench/batch.py
.venv/bin/python bench/webhook.py "$@"
command -v redis-server >/dev/null || bash .ci/system-packages
.venv/bin/python bench/load.py
