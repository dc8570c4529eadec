"""Helpers of the fault tests: Redis servers of a test's own, and reading questions back through the Store."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis

from bot.config import Config
from bot.wechat.simulator import Account
from tests.conftest import wait_for


def binaries() -> tuple[str, list[str]]:
    """redis-server, and how to start a Sentinel with it (redis-sentinel, else `redis-server --sentinel`)."""
    server = shutil.which("redis-server") or ("/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists()
                                              else None)
    sentinel = shutil.which("redis-sentinel")
    if server is None and sentinel is None:
        pytest.skip("neither redis-server nor redis-sentinel is installed (apt-get install redis-server "
                    "redis-sentinel; .ci/run does it)")
    if server is None:  # redis-sentinel is redis-server under another name: it runs a server when told to
        assert sentinel is not None
        return sentinel, [sentinel, "--sentinel"]
    return server, [sentinel] if sentinel else [server, "--sentinel"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def account(config: Config) -> Account:
    return Account(config.wechat.token, config.wechat.app_id, config.wechat.encoding_aes_key,
                   config.account.original_id)


@dataclass
class Servers:
    """Redis servers (and a Sentinel) of a test's own on loopback ports, each in its own directory; stopped at the end."""

    root: Path
    server: str
    sentinel_cmd: list[str]
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    cmds: dict[str, list[str]] = field(default_factory=dict)

    def url(self, name: str) -> str:
        return f"redis://127.0.0.1:{self.ports[name]}/0"

    def start(self, name: str, cmd: list[str]) -> None:
        self.cmds[name] = cmd
        log = (self.root / f"{name}.log").open("ab")
        self.procs[name] = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=self.root)
        log.close()
        client = redis.Redis(port=self.ports[name], socket_timeout=1)

        def answers() -> bool:
            if self.procs[name].poll() is not None:
                raise AssertionError(f"{name} exited: {(self.root / f'{name}.log').read_text()[-2000:]}")
            try:
                return bool(client.ping())
            except redis.ConnectionError:  # not listening yet, or still reading its AOF back (LOADING)
                return False

        wait_for(answers, timeout=15)
        client.close()

    def data_server(self, name: str, *extra: str, fsync: str = "no") -> None:
        """A server with AOF (`appendfsync` `fsync`) and no RDB snapshots."""
        self.ports[name] = free_port()
        (self.root / name).mkdir()
        self.start(name, [self.server, "--port", str(self.ports[name]), "--bind", "127.0.0.1", "--dir",
                          str(self.root / name), "--save", "", "--appendonly", "yes", "--appendfsync", fsync,
                          *extra])

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        self.procs[name].send_signal(sig)
        self.procs[name].wait(timeout=30)

    def restart(self, name: str) -> None:
        """Start it again as before: same port, same directory, its AOF read back."""
        self.start(name, self.cmds[name])

    def sentinel(self, service: str) -> None:
        self.ports["sentinel"] = port = free_port()
        conf = self.root / "sentinel.conf"  # Sentinel rewrites its file: it must be its own and writable
        conf.write_text(f"port {port}\nbind 127.0.0.1\ndir {self.root}\n"
                        f"sentinel monitor {service} 127.0.0.1 {self.ports['primary']} 1\n"
                        f"sentinel down-after-milliseconds {service} 1000\n"
                        f"sentinel failover-timeout {service} 5000\n")
        self.start("sentinel", [self.sentinel_cmd[0], str(conf), *self.sentinel_cmd[1:]])

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
            proc.wait()
