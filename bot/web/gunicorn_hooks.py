"""Gunicorn settings module (`-c python:bot.web.gunicorn_hooks`): Ctrl-C stops as gently as SIGTERM.

Gunicorn treats SIGINT as a quick shutdown, dropping the pushes its workers have accepted; a terminal's
Ctrl-C reaches the master and every worker. Here both finish what they took first, as on SIGTERM.
"""

from __future__ import annotations

import signal
from typing import Any


def on_starting(server: Any) -> None:
    """The master: INT handled as TERM (graceful stop within --graceful-timeout)."""
    server.handle_int = server.handle_term  # the arbiter looks its handlers up by name at each signal


def post_worker_init(worker: Any) -> None:
    """A worker: INT ends it after the request in hand, as TERM does (runs after gunicorn set its handlers)."""
    signal.signal(signal.SIGINT, worker.handle_exit)
