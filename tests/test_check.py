"""`python -m bot check`: one line per check, its fix when it fails, exit status 1 on any failure."""

from __future__ import annotations

import datetime as dt
import os
import re
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from bot.checks import run_checks
from bot.store import EmbeddedRedis, Store
from tests.conftest import APP_SECRET, ROOT, self_signed_cert, volatile_redis


@pytest.fixture
def durable(tmp_path: Path) -> Iterator[str]:
    """A Redis of its own that persists and never evicts (what production needs)."""
    server = EmbeddedRedis(tmp_path / "redis")
    yield server.url
    server.close()


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WECHAT_", "BOT_", "REDIS_"))}
    return {**env, "BOT_CONFIG": str(ROOT / "config.yaml"), **extra}


def check(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot", "check"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60)


def lines(out: str) -> dict[str, str]:
    """Check name -> its line (mark and detail), e.g. {"redis": "✔ reachable, ..."}."""
    found = {}
    for line in out.splitlines():
        if line[:2] in ("✔ ", "✘ ", "- ") and ":" in line:
            name, detail = line[2:].split(":", 1)
            found[name] = f"{line[0]} {detail.strip()}"
    return found


def test_development_sample_is_ready_and_says_what_it_skipped(durable: str) -> None:
    done = check(clean_env(REDIS_URL=durable))
    found = lines(done.stdout)
    assert done.returncode == 0, done.stdout + done.stderr
    assert found["config"].startswith("✔") and "development mode" in found["config"]
    assert found["redis"].startswith("✔") and found["aes key"].startswith("✔")
    assert found["wechat api"].startswith("-") and "no WECHAT_APP_SECRET" in found["wechat api"]
    assert found["clock"].startswith("-") and found["public url"].startswith("-")
    assert done.stdout.rstrip().endswith("ready")


def test_staging_checks_the_credentials_and_clock_and_refuses_an_http_public_url(durable: str,
                                                                                fake_wechat: Any) -> None:
    done = check(clean_env(REDIS_URL=durable, WECHAT_APP_SECRET=APP_SECRET, WECHAT_API_BASE_URL=fake_wechat.url))
    found = lines(done.stdout)
    assert found["config"].startswith("✔") and "staging mode" in found["config"]
    assert found["wechat api"].startswith("✔") and found["clock"].startswith("✔")
    assert found["public url"].startswith("✘") and "is not https" in found["public url"]
    assert "fix: serve the bot behind TLS" in done.stdout
    assert done.returncode == 1 and "1 check(s) failed" in done.stdout


def test_a_wrong_app_secret_fails_with_wechats_meaning_and_the_fix(durable: str, fake_wechat: Any) -> None:
    done = check(clean_env(REDIS_URL=durable, WECHAT_APP_SECRET="not-the-secret", WECHAT_API_BASE_URL=fake_wechat.url))
    found = lines(done.stdout)
    assert found["wechat api"].startswith("✘") and "errcode 40125 (invalid AppSecret)" in found["wechat api"]
    assert "fix: set WECHAT_APP_SECRET" in done.stdout and done.returncode == 1


def test_a_redis_that_could_lose_questions_fails(tmp_path: Path) -> None:
    with volatile_redis(tmp_path / "volatile") as url:
        found = lines(check(clean_env(REDIS_URL=url)).stdout)
    assert found["redis"].startswith("✘") and "keeps nothing on disk" in found["redis"]
    assert "maxmemory-policy is allkeys-lru" in found["redis"]


def test_an_unreachable_redis_and_a_broken_config_fail_clearly(tmp_path: Path) -> None:
    done = check(clean_env(REDIS_URL="redis://127.0.0.1:1/0"))
    assert lines(done.stdout)["redis"].startswith("✘ cannot reach Redis") and done.returncode == 1
    broken = tmp_path / "config.yaml"
    broken.write_text("account: [unclosed\n", encoding="utf-8")
    done = check(clean_env(BOT_CONFIG=str(broken)))
    found = lines(done.stdout)
    assert list(found) == ["config"] and found["config"].startswith("✘") and done.returncode == 1
    assert "Traceback" not in done.stdout + done.stderr


def staging(fake_wechat: Any, **extra: str) -> dict[str, str]:
    return clean_env(WECHAT_APP_SECRET=APP_SECRET, WECHAT_API_BASE_URL=fake_wechat.url, **extra)


def findings(env: dict[str, str], durable: str, **kwargs: Any) -> dict[str, str]:
    return {f.name: f"{f.state}: {f.detail}" for f in run_checks(env, lambda: Store.from_url(durable), **kwargs)}


@pytest.mark.parametrize(("offset", "says"), [(120, "ahead of"), (-90, "behind")])
def test_a_clock_off_by_more_than_a_minute_fails(durable: str, fake_wechat: Any, offset: int, says: str) -> None:
    def skewed() -> dt.datetime:
        return dt.datetime.now(dt.UTC) + dt.timedelta(seconds=offset)

    found = findings(staging(fake_wechat), durable, now=skewed)
    off = re.search(rf"fail: (\d+) s {says} the WeChat API's clock", found["clock"])
    assert off, found["clock"]
    assert abs(offset) - 1 <= int(off[1]) <= abs(offset) + 1  # the Date header counts whole seconds
    assert findings(staging(fake_wechat), durable)["clock"].startswith("ok: within")


@pytest.fixture
def https_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A TLS server on loopback answering /healthz, with its self-signed certificate (the test's own CA)."""
    cert_file, key_file = self_signed_cert(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)

    @Request.application
    def app(request: Request) -> Response:
        return Response("ok" if request.path == "/healthz" else "no", status=200 if request.path == "/healthz" else 404)

    server = make_server("127.0.0.1", 0, app, ssl_context=context)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.port}", cert_file
    server.shutdown()
    thread.join()


def test_the_public_url_must_answer_over_trusted_https(durable: str, fake_wechat: Any,
                                                      https_server: tuple[str, Path], tmp_path: Path) -> None:
    url, cert = https_server
    config = tmp_path / "config.yaml"
    data = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
    data["account"]["public_base_url"] = url
    config.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    env = staging(fake_wechat, BOT_CONFIG=str(config))
    untrusted = findings(env, durable)
    assert untrusted["public url"].startswith("fail") and "certificate is not trusted" in untrusted["public url"]
    session = requests.Session()
    session.trust_env = False  # else REQUESTS_CA_BUNDLE, where set, replaces the bundle below
    session.verify = str(cert)  # the proxy's certificate, trusted as a public CA's would be
    trusted = findings(env, durable, http=session)
    assert trusted["public url"] == f"ok: {url}/healthz answers over https"
    session.close()
