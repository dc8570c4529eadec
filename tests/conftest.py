"""Shared fixtures: real Redis, the app, a WeChat that signs its pushes, the fake WeChat API."""

from __future__ import annotations

import contextlib
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from bot import create_app
from bot.config import Config, load_config
from bot.store import EmbeddedRedis, Store, delete_prefix
from bot.wechat.simulator import Account, ReadReply, message_xml, read_reply, signed_request

ROOT = Path(__file__).resolve().parent.parent
APP_SECRET = "test-app-secret"


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The Redis at REDIS_URL, else an embedded one for the whole session."""
    url = os.environ.get("REDIS_URL", "").strip()
    if url:
        yield url
        return
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"))
    yield server.url
    server.close()


@pytest.fixture
def store(redis_url: str) -> Iterator[Store]:
    """A store under a key prefix of its own, so tests never see each other's keys."""
    s = Store.from_url(redis_url, prefix=f"test:{uuid.uuid4().hex[:12]}:")
    yield s
    delete_prefix(s.redis, s.prefix)
    s.close()


@pytest.fixture
def base_config() -> Config:
    """The sample config.yaml, read without the developer's environment."""
    return load_config(ROOT / "config.yaml", env={})


@pytest.fixture
def fake_wechat(base_config: Config) -> Iterator[Any]:
    from bot.fake_wechat import FakeAccount, FakeWeChatServer

    account = FakeAccount(appid=base_config.wechat.app_id, secret=APP_SECRET,
                          original_id=base_config.account.original_id)
    with FakeWeChatServer(account=account) as server:
        yield server


@pytest.fixture
def config(base_config: Config, fake_wechat: Any) -> Config:
    """The sample config pointed at the fake WeChat API.

    It keeps the sample's reply deadline (4 s): a handler expected to answer in time must not miss it on a
    loaded machine. A slow handler's budget also counts from the push's timestamp, which names only the
    second it was sent, so a 0.5 s deadline left it as little as `intake.MIN_WAIT` (0.1 s). A test that
    needs a missed deadline blocks its handler until the reply is in, and may shorten the deadline itself.
    """
    wechat = replace(base_config.wechat, app_secret=APP_SECRET, api_base_url=fake_wechat.url,
                     api_timeout_seconds=2.0)
    return replace(base_config, wechat=wechat)


@pytest.fixture
def frozen_now(monkeypatch: pytest.MonkeyPatch) -> datetime:
    """Stops the clock of the apps built after it at this instant (use it before `app`: `usefixtures`).

    For a test that counts per day or works out when the next post is due: run across midnight (Asia/Shanghai)
    or a schedule's slot, it would otherwise see two days or two slots.
    """
    import bot

    now = datetime.now(UTC)
    monkeypatch.setattr(bot, "_utcnow", lambda: now)
    return now


@pytest.fixture
def app(config: Config, store: Store) -> Iterator[Flask]:
    application = create_app({"TESTING": True}, config=config, store=store)
    yield application
    application.extensions["wxbot"].close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


class WeChat:
    """Plays WeChat's servers: builds signed (optionally encrypted) pushes and reads the replies."""

    def __init__(self, client: FlaskClient, config: Config) -> None:
        self.client = client
        self.account = Account(config.wechat.token, config.wechat.app_id, config.wechat.encoding_aes_key,
                               config.account.original_id)

    def post(self, xml: str, *, aes: bool = False, key: str | None = None, **overrides: str) -> Any:
        query, body = signed_request(self.account, xml, aes=aes, key=key)
        query.update(overrides)
        return self.client.post("/wechat", query_string=query, data=body)

    def send(self, text: str = "", *, openid: str = "o_follower_1", aes: bool = False, **kw: Any) -> ReadReply:
        res = self.post(message_xml(self.account, openid, text=text, **kw), aes=aes)
        assert res.status_code == 200, res.data
        return read_reply(self.account, res.data.decode("utf-8"))

    def event(self, event: str, key: str = "", *, openid: str = "o_follower_1", aes: bool = False) -> ReadReply:
        res = self.post(message_xml(self.account, openid, event=event, event_key=key), aes=aes)
        assert res.status_code == 200, res.data
        return read_reply(self.account, res.data.decode("utf-8"))


@pytest.fixture
def wechat(client: FlaskClient, config: Config) -> WeChat:
    return WeChat(client, config)


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """No access log in test output."""


class Served:
    """A WSGI app on a loopback port, served by a background thread (for the fake server to push to)."""

    def __init__(self, app: Any) -> None:
        self._server: BaseWSGIServer = make_server("127.0.0.1", 0, app, threaded=True,
                                                   request_handler=_QuietHandler)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05})
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._thread.join()
        self._server.server_close()


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Wait until `predicate()` is truthy (for work finishing on another thread or process)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.01)


@contextlib.contextmanager
def gunicorn(env: dict[str, str], workers: int = 2, stderr: Any = None) -> Iterator[str]:
    """The real service (`python -m bot web`: gunicorn) on a free loopback port, with exactly `env`; yields its URL.

    `stderr`: a file for the service's logs (default: this process's stderr)."""
    with gunicorn_process(env, workers, stderr) as (url, _):
        yield url


@contextlib.contextmanager
def gunicorn_process(env: dict[str, str], workers: int = 2, stderr: Any = None,
                     own_group: bool = False) -> Iterator[tuple[str, Any]]:
    """`gunicorn`, yielding the master's Popen too; `own_group`: in a process group of its own (to kill it whole)."""
    import socket
    import subprocess
    import sys

    import requests

    # gunicorn gets the socket already bound: a port found free, closed and bound again later could be taken
    # meanwhile (by any process's outgoing connection), and gunicorn would exit after its bind retries.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        port = listener.getsockname()[1]
        proc = subprocess.Popen(  # the production web server, started as production starts it
            [sys.executable, "-m", "bot", "web", "--bind", f"fd://{listener.fileno()}", "--workers", str(workers),
             "--log-level", "warning"],
            cwd=ROOT, env=env, pass_fds=(listener.fileno(),), stderr=stderr, start_new_session=own_group)
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"gunicorn exited with {proc.returncode}")
        try:
            return requests.get(url + "/healthz", timeout=1).status_code == 200
        except (requests.ConnectionError, requests.Timeout):  # still booting (slow on a busy machine)
            return False

    try:
        wait_for(up, timeout=30)
        yield url, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:  # never leave it running (nor its Popen unreaped)
            proc.kill()
            proc.wait()
            raise
        finally:
            if own_group:  # no worker outlives its master (one whose master was killed alone, say)
                import signal

                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)


def service_env(redis_url: str, store: Store, fake_wechat: Any, **extra: str) -> dict[str, str]:
    """The environment of a service process: this test's Redis prefix and the fake WeChat API, nothing of ours."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WECHAT_", "BOT_"))}
    env.update({"REDIS_URL": redis_url, "BOT_REDIS_PREFIX": store.prefix, "BOT_CONFIG": str(ROOT / "config.yaml"),
                "WECHAT_API_BASE_URL": fake_wechat.url, "WECHAT_APP_SECRET": APP_SECRET, **extra})
    return env


@pytest.fixture
def live_server(redis_url: str, store: Store, fake_wechat: Any) -> Iterator[str]:
    """The real service under gunicorn on a free loopback port; yields its base URL."""
    with gunicorn(service_env(redis_url, store, fake_wechat)) as url:
        yield url


# -- questions and reply posts (issue 4) ---------------------------------------------------------------


@pytest.fixture
def qa_api(config: Config, store: Store, fake_wechat: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """An API client on the fake WeChat server that never sleeps between retries.

    Its timeout is generous: on a loaded machine a short one turns a slow answer into "WeChat did not answer",
    which the publisher rightly treats as an outcome it cannot know. Only while the test makes the fake hold
    requests (from a `delay` fault until `release_delays` leaves none) does it give up after 0.5 s, so those
    tests stay quick.
    """
    from bot.wechat.api import WeChatAPI

    api = WeChatAPI(config.wechat.app_id, APP_SECRET, store, config.wechat.api_base_url, timeout=5.0,
                    max_retries=2, sleep=lambda seconds: None)
    state = fake_wechat.state
    inject, release_delays = state.inject, state.release_delays

    def inject_shortening(path: str, **fault: Any) -> Any:
        if fault.get("delay"):
            api.timeout = 0.5
        return inject(path, **fault)

    def release_restoring() -> None:
        release_delays()
        if not any(f.delay for f in state.faults()):  # later delays wait again: keep giving up quickly then
            api.timeout = 5.0

    monkeypatch.setattr(state, "inject", inject_shortening)
    monkeypatch.setattr(state, "release_delays", release_restoring)
    return api


@pytest.fixture
def posts(config: Config, store: Store, qa_api: Any) -> Any:
    """The editors' service (questions, batches, posts, publishing) on the fake WeChat server."""
    from bot.questions.posts import PostService

    return PostService(config, store, qa_api, lambda: datetime.now(UTC))


@pytest.fixture
def mass(config: Config, store: Store, qa_api: Any) -> tuple[Any, WeChat, Config]:
    """Mass-send mode: the editors' service and a webhook client on one app."""
    mass_config = replace(config, questions=replace(config.questions, publishing=replace(
        config.questions.publishing, mode="mass_send")))
    from bot.questions.posts import PostService

    app = create_app({"TESTING": True}, config=mass_config, store=store)
    return PostService(mass_config, store, qa_api, lambda: datetime.now(UTC)), WeChat(app.test_client(),
                                                                                         mass_config), mass_config


def self_signed_cert(directory: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """A certificate for `host` that is its own CA (trust it as a public CA's would be), and its key."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[Any]:
    """Redis servers (primary, replicas, a Sentinel) of the test's own, on free loopback ports, stopped after."""
    from tests.load import Servers, binaries

    server, sentinel_cmd = binaries()
    found = Servers(tmp_path, server, sentinel_cmd)
    try:
        yield found
    finally:
        found.stop()


@contextlib.contextmanager
def volatile_redis(directory: Path) -> Iterator[str]:
    """An embedded Redis that keeps nothing on disk and may evict keys (what production must refuse); its URL."""
    import redis

    server = EmbeddedRedis(directory)
    try:
        client = redis.Redis.from_url(server.url)
        client.config_set("appendonly", "no")
        client.config_set("save", "")
        client.config_set("maxmemory-policy", "allkeys-lru")
        client.close()
        yield server.url
    finally:
        server.close()


# -- the console (issue 11) ------------------------------------------------------------------------------


@pytest.fixture
def console_users(store: Store, config: Config) -> Any:
    """An admin and an editor with a known password (tests/console.py)."""
    from tests.console import make_users

    return make_users(store, config)


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """Headless Debian Chromium driven by Playwright (installed by .ci/system-packages)."""
    from tests.console import CHROMIUM

    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} missing: apt-get install chromium fonts-noto-cjk (make test does, as root)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def page(chromium: Any) -> Iterator[Any]:
    """A fresh browser context (no cookies) at desktop width; `page.set_viewport_size` for a phone."""
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    context.set_default_timeout(15_000)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    pg.console_errors = errors  # a CSP violation shows here: tests may assert it stays empty
    yield pg
    context.close()
