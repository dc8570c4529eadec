"""The files under deploy/ run as shipped: nginx in front of the real service, the Redis settings, the unit's
command line. Each file is read as it is and only its host-specific paths and ports are rewritten."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
import yaml

from bot.config import load_config
from bot.store import Store
from bot.wechat.simulator import Account, message_xml, read_reply, signed_request
from tests.conftest import ROOT, gunicorn, self_signed_cert, service_env, wait_for
from tests.load import free_port

DEPLOY = ROOT / "deploy"


def rewritten(path: Path, replacements: dict[str, str]) -> str:
    """The file with each host-specific string replaced; a string no longer in it fails the test."""
    text = path.read_text(encoding="utf-8")
    for old, new in replacements.items():
        assert old in text, f"{path.name} no longer contains {old!r}: update this test with it"
        text = text.replace(old, new)
    return text


@pytest.fixture
def nginx(tmp_path: Path, redis_url: str, store: Store, fake_wechat: Any) -> Iterator[dict[str, Any]]:
    """deploy/nginx/wxbot.conf served by a real nginx on loopback ports, in front of the service under gunicorn."""
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.path.exists(binary):
        pytest.skip("nginx is not installed (.ci/run installs it: apt-get install nginx-light)")
    cert, key = self_signed_cert(tmp_path)
    https_port, http_port = free_port(), free_port()
    with gunicorn(service_env(redis_url, store, fake_wechat)) as upstream:
        site = rewritten(DEPLOY / "nginx" / "wxbot.conf", {
            "server 127.0.0.1:8000;": f"server {upstream.removeprefix('http://')};",
            "listen 80;": f"listen 127.0.0.1:{http_port};",
            "listen 443 ssl http2;": f"listen 127.0.0.1:{https_port} ssl http2;",
            "/etc/letsencrypt/live/wx.hospital.example.cn/fullchain.pem": str(cert),
            "/etc/letsencrypt/live/wx.hospital.example.cn/privkey.pem": str(key),
            "/var/log/nginx/": f"{tmp_path}/",
        })
        (tmp_path / "site.conf").write_text(site, encoding="utf-8")
        temp = "\n".join(f"  {kind}_temp_path {tmp_path}/{kind};" for kind in
                         ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        (tmp_path / "nginx.conf").write_text(
            ("user root;\n" if os.geteuid() == 0 else "") +  # workers read the test's files
            f"daemon off;\nworker_processes 1;\npid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/main.log warn;\n"
            f"events {{ worker_connections 64; }}\nhttp {{\n{temp}\n  include {tmp_path}/site.conf;\n}}\n",
            encoding="utf-8")
        test = subprocess.run([binary, "-t", "-p", str(tmp_path), "-e", f"{tmp_path}/early.log",
                               "-c", str(tmp_path / "nginx.conf")], capture_output=True, text=True, timeout=30)
        assert test.returncode == 0, test.stderr
        proc = subprocess.Popen([binary, "-p", str(tmp_path), "-e", f"{tmp_path}/early.log",
                                 "-c", str(tmp_path / "nginx.conf")])
        session = requests.Session()
        session.trust_env = False  # else REQUESTS_CA_BUNDLE, where set, replaces the certificate below
        session.verify = str(cert)
        base = f"https://127.0.0.1:{https_port}"

        def up() -> bool:
            try:
                return session.get(base + "/healthz", timeout=2).status_code == 200
            except requests.RequestException:
                return False

        try:
            wait_for(up, timeout=20)
            yield {"base": base, "http": f"http://127.0.0.1:{http_port}", "session": session, "logs": tmp_path}
        finally:
            proc.terminate()
            proc.wait(timeout=10)
            session.close()


def test_a_push_through_nginx_is_answered_and_its_query_never_logged(nginx: dict[str, Any]) -> None:
    config = load_config(ROOT / "config.yaml", env={})
    account = Account(config.wechat.token, config.wechat.app_id, original_id=config.account.original_id)
    session, base = nginx["session"], nginx["base"]
    query, body = signed_request(account, message_xml(account, "o_deploy_follower", text="问卷"))
    response = session.post(base + "/wechat", params={**query, "openid": "o_deploy_follower"}, data=body,
                            timeout=10)
    assert response.status_code == 200 and read_reply(account, response.text).kind == "news"
    assert session.get(base + "/s/nothing-here", timeout=5).status_code in (400, 404)  # reaches the bot
    assert session.get(base + "/.env", timeout=5).status_code == 404  # nothing else is served
    log = (nginx["logs"] / "wxbot.access.log").read_text(encoding="utf-8")
    assert '"POST /wechat HTTP/1.1" 200' in log
    assert "o_deploy_follower" not in log and "signature" not in log and "?" not in log


def test_nginx_refuses_a_body_over_64_kib_and_redirects_plain_http(nginx: dict[str, Any]) -> None:
    session, base = nginx["session"], nginx["base"]
    assert session.post(base + "/wechat", data=b"x" * (64 * 1024 + 1), timeout=10).status_code == 413
    assert session.post(base + "/wechat", data=b"<xml/>", timeout=10).status_code == 403  # passed on: unsigned
    redirect = session.get(nginx["http"] + "/s/abc?openid=o_x", allow_redirects=False, timeout=5)
    assert redirect.status_code == 301 and redirect.headers["Location"].endswith("/s/abc")


def test_the_redis_settings_satisfy_the_bots_durability_check(tmp_path: Path) -> None:
    port = free_port()
    conf = tmp_path / "redis.conf"
    conf.write_text((DEPLOY / "redis" / "wxbot-redis.conf").read_text(encoding="utf-8")
                    + f"\nport {port}\ndir {tmp_path}\n", encoding="utf-8")
    proc = subprocess.Popen([shutil.which("redis-server") or "redis-server", str(conf)], stdout=subprocess.DEVNULL)
    store = Store.from_url(f"redis://127.0.0.1:{port}/0")
    try:
        wait_for(lambda: _pings(store.redis), timeout=20)
        assert store.durability_problems() == []
        assert store.redis.config_get("maxmemory-policy") == {"maxmemory-policy": "noeviction"}
    finally:
        store.close()
        proc.terminate()
        proc.wait(timeout=10)


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


def unit(name: str) -> dict[str, str]:
    """The [Service] settings of a systemd unit under deploy/systemd."""
    text = (DEPLOY / "systemd" / name).read_text(encoding="utf-8")
    service = text.split("[Service]", 1)[1].split("[Install]", 1)[0]
    return dict(line.split("=", 1) for line in service.splitlines() if "=" in line and not line.startswith("#"))


def test_the_web_units_command_line_serves_the_bot(redis_url: str, store: Store, fake_wechat: Any) -> None:
    web = unit("wxbot-web.service")
    assert web["Restart"] == "always" and web["EnvironmentFile"] == "/etc/wxbot/env"
    args = shlex.split(web["ExecStart"])
    assert args[:4] == ["/opt/wxbot/.venv/bin/python", "-m", "bot", "web"]  # the server replaces it: MAINPID
    port = free_port()
    args = [sys.executable, *args[1:]]
    args[args.index("--bind") + 1] = f"127.0.0.1:{port}"
    args[args.index("--workers") + 1] = "1"
    proc = subprocess.Popen(args, cwd=ROOT, env=service_env(redis_url, store, fake_wechat))
    try:
        def up() -> bool:
            assert proc.poll() is None, "the web server exited"
            try:
                return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
            except requests.RequestException:
                return False

        wait_for(up, timeout=30)
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    scheduler = unit("wxbot-scheduler.service")
    assert shlex.split(scheduler["ExecStart"]) == ["/opt/wxbot/.venv/bin/python", "-m", "scheduler"]
    assert scheduler["Restart"] == "always"


def test_the_environment_example_names_every_secret_and_no_value() -> None:
    lines = dict(line.split("=", 1) for line in (DEPLOY / "wxbot.env.example").read_text(encoding="utf-8").splitlines()
                 if "=" in line and not line.startswith("#"))
    for name in ("WECHAT_APP_ID", "WECHAT_APP_SECRET", "WECHAT_TOKEN", "WECHAT_ENCODING_AES_KEY", "BOT_SECRET_KEY"):
        assert lines[name] == "", name  # placeholders only: a value here would be a public secret
    assert lines["BOT_ENV"] == "production"


def test_compose_runs_the_same_entry_points() -> None:
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text(encoding="utf-8"))
    services = compose["services"]
    assert set(services) == {"redis", "web", "scheduler"}
    assert services["scheduler"]["command"] == ["python", "-m", "scheduler"]
    assert "./redis/wxbot-redis.conf:/usr/local/etc/redis/wxbot-redis.conf:ro" in services["redis"]["volumes"]
    dockerfile = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    cmd = re.search(r"^CMD (\[.*\])$", dockerfile, re.M)
    assert cmd and yaml.safe_load(cmd[1])[:4] == ["python", "-m", "bot", "web"]
