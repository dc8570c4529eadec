"""Serve a WSGI app with bjoern in N forked processes on one port (SO_REUSEPORT): bjoern has no workers of its own.

    .venv/bin/python bench/bjoern_serve.py bot.wsgi:app --port 8000 --workers 2

Each child imports the app after the fork (no Redis connection or thread crosses it) and binds its own socket;
the kernel spreads connections between them. SIGTERM stops the children at once: bjoern has no graceful stop.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def serve(target: str, host: str, port: int) -> None:
    import bjoern  # type: ignore[import-not-found]

    module, _, name = target.partition(":")
    factory = name.endswith("()")  # "module:create_app()", as gunicorn takes it
    app = getattr(importlib.import_module(module), name.removesuffix("()") or "app")
    if factory:
        app = app()
    bjoern.run(app, host, port, reuse_port=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("app", help="module:attribute of the WSGI app, or module:factory()")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8000)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    children = []
    for _ in range(args.workers):
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            serve(args.app, args.host, args.port)
            os._exit(0)
        children.append(pid)

    def stop(signum: int, frame: object) -> None:
        for pid in children:
            os.kill(pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for pid in children:
        os.waitpid(pid, 0)


if __name__ == "__main__":
    main()
