"""Serving the fake: a threaded WSGI server on a loopback port (`FakeWeChatServer`, for tests) or in the
foreground (`serve`, for `python -m bot fake-wechat`)."""

from __future__ import annotations

import re
import threading
import time
from types import TracebackType
from typing import Any, Self

import flask
from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler

from bot.fake_wechat.app import create_fake_app
from bot.fake_wechat.model import FakeAccount
from bot.fake_wechat.state import FakeWeChatState

_TOKEN_IN_QUERY = re.compile(r"((?:access_token|secret)=)[^&\s]+")


class _RequestHandler(WSGIRequestHandler):
    """Werkzeug's handler with a socket timeout, so a silent client cannot pin a thread forever."""

    timeout = 10

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """The access log, with access tokens masked: they are credentials, even here."""
        path = self.path
        self.path = _TOKEN_IN_QUERY.sub(r"\1***", path)
        try:
            super().log_request(code, size)
        finally:
            self.path = path


class _QuietRequestHandler(_RequestHandler):
    """The handler without the per-request access log (errors are still logged)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Skip access logging: tests would drown in it."""


class _Server(ThreadedWSGIServer):
    """Threaded server whose request threads are daemons (never block exit) yet can be joined on stop."""

    def __init__(self, host: str, port: int, app: flask.Flask, handler: type[WSGIRequestHandler]) -> None:
        super().__init__(host, port, app, handler=handler)
        self._workers: list[threading.Thread] = []
        self._workers_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        """Handle the connection in a tracked daemon thread."""
        thread = threading.Thread(
            target=self.process_request_thread, args=(request, client_address), name="fake-wechat-request",
            daemon=True,
        )
        with self._workers_lock:
            self._workers = [t for t in self._workers if t.is_alive()]
            self._workers.append(thread)
        thread.start()

    def join_workers(self, timeout: float) -> None:
        """Wait (up to `timeout` in total) for request threads still running."""
        deadline = time.monotonic() + timeout
        with self._workers_lock:
            workers = list(self._workers)
        for t in workers:
            t.join(max(0.0, deadline - time.monotonic()))


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class FakeWeChatServer:
    """The fake app served on a loopback port by a background thread; use as a context manager."""

    def __init__(
        self,
        account: FakeAccount | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        webhook_url: str | None = None,
        webhook_token: str | None = None,
        webhook_aes_key: str | None = None,
    ) -> None:
        """Bind now (port 0 picks a free port) so `url` is known before `start`.

        With `webhook_aes_key` (the account's EncodingAESKey) pushes are sent in safe mode, else plaintext.
        """
        self.state = FakeWeChatState(
            account, webhook_url=webhook_url, webhook_token=webhook_token, webhook_aes_key=webhook_aes_key
        )
        self._server = _Server(host, port, create_fake_app(self.state), _QuietRequestHandler)
        self.url = _url(host, self._server.server_port)
        self._thread: threading.Thread | None = None
        self._closed = False

    def start(self) -> Self:
        """Start serving in a background thread."""
        if self._closed:
            raise RuntimeError("server was stopped")
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-wechat-server",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Release delayed requests, stop serving, wait for request and push threads; idempotent."""
        if self._closed:
            return
        self._closed = True
        self.state.release_delays()
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()
        # Released delays answer at once; the handler's socket timeout bounds anything else.
        self._server.join_workers(timeout=_RequestHandler.timeout + 1)
        self.state.join_pushes()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def serve(
    host: str, port: int, account: FakeAccount, webhook_url: str | None, webhook_token: str | None,
    webhook_aes_key: str | None = None,
) -> None:
    """Run the fake in the foreground until interrupted (the `python -m bot fake-wechat` command).

    Pushes are encrypted (safe mode) when `webhook_aes_key` is given, plaintext otherwise.
    """
    state = FakeWeChatState(
        account, webhook_url=webhook_url, webhook_token=webhook_token, webhook_aes_key=webhook_aes_key
    )
    server = _Server(host, port, create_fake_app(state), _RequestHandler)
    mode = "" if webhook_url is None else (", safe mode" if webhook_aes_key else ", plaintext")
    print(
        f"fake WeChat API on {_url(host, server.server_port)} (appid={account.appid}, "
        f"original_id={account.original_id}, webhook={webhook_url or 'none'}{mode})",
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        state.release_delays()
        server.server_close()
        server.join_workers(timeout=_RequestHandler.timeout + 1)
        state.join_pushes()
