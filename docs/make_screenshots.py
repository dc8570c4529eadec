"""Screenshots of the console's main pages, desktop and phone, into docs/screenshots/ (`make screenshots`).

Starts everything on loopback with demo data of its own (an embedded Redis in a temporary directory, the fake
WeChat API, the app), sends followers' messages as signed pushes, batches them into a reply post, then drives
Debian's Chromium through Playwright. Nothing of a real account is used or shown.
"""

from __future__ import annotations

import sys
import tempfile
import threading
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

import requests
from werkzeug.serving import WSGIRequestHandler, make_server

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot import create_app  # noqa: E402
from bot.config import load_config  # noqa: E402
from bot.fake_wechat import FakeAccount, FakeWeChatServer  # noqa: E402
from bot.rules.survey import survey_link  # noqa: E402
from bot.store import EmbeddedRedis, Store  # noqa: E402
from bot.wechat.simulator import Account, message_xml, signed_request  # noqa: E402

OUT = ROOT / "docs" / "screenshots"
PASSWORD = "demo-console-2026"
SECRET = "screenshot-app-secret"
DESKTOP, PHONE = {"width": 1280, "height": 900}, {"width": 375, "height": 740}
# (file name, path, who): the pages shown in the README; a page this version lacks is skipped, saying so.
PAGES = [
    ("dashboard", "/console/", "admin"),
    ("questions", "/console/questions", "editor"),
    ("posts", "/console/posts", "editor"),
    ("post", "/console/posts/{post}", "editor"),
    ("rules", "/console/rules", "admin"),
    ("catalog", "/console/catalog", "admin"),
    ("menu", "/console/menu", "admin"),
    ("unanswered", "/console/unanswered", "admin"),
    ("users", "/console/users", "admin"),
    ("audit", "/console/audit", "admin"),
]
MESSAGES = [
    "提问：肾移植后可以喝豆浆吗？每天喝多少合适", "提问 移植术后能喝豆浆吗，每天多少合适？",
    "提问：他克莫司漏服一次怎么办？", "提问：干细胞治疗需要住院多久？", "提问：术后多久可以运动？",
    "豆制品", "干细胞", "问卷", "医院停车场在哪里", "医院停车场在哪", "周末有门诊吗",
]


class Quiet(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        redis = EmbeddedRedis(Path(tmp))
        base = load_config(ROOT / "config.yaml", env={})
        fake = FakeWeChatServer(account=FakeAccount(appid=base.wechat.app_id, secret=SECRET,
                                                    original_id=base.account.original_id))
        with fake:
            config = replace(base, wechat=replace(base.wechat, app_secret=SECRET, api_base_url=fake.url))
            store = Store.from_url(redis.url)
            app = create_app(config=config, store=store)
            server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=Quiet)
            threading.Thread(target=server.serve_forever, daemon=True).start()
            url = f"http://127.0.0.1:{server.server_port}"
            try:
                post = seed(app, config, url)
                shoot(url, post)
            finally:
                server.shutdown()
                app.extensions["wxbot"].close()
                store.close()
                redis.close()
    return 0


def seed(app: object, config: object, url: str) -> str:
    """Demo users, followers' messages through /wechat, and a reply post made of the questions."""
    bot = app.extensions["wxbot"]  # type: ignore[attr-defined]
    users = bot.ctx.services.users
    users.add("admin", "admin", PASSWORD, actor="demo")
    users.add("editor", "editor", PASSWORD, actor="demo")
    account = Account(bot.config.wechat.token, bot.config.wechat.app_id, bot.config.wechat.encoding_aes_key,
                      bot.config.account.original_id)
    for i, text in enumerate(MESSAGES):
        query, body = signed_request(account, message_xml(account, f"o_demo_follower_{i:011d}", text=text))
        requests.post(f"{url}/wechat", params=query, data=body, timeout=10).raise_for_status()
    for i in range(3):  # a few survey clicks, through the tracked link as a follower's phone would open it
        link = survey_link(bot.config.account.public_base_url, bot.config.secret_key, f"u_demo{i:012d}")
        requests.get(url + urlsplit(link).path, allow_redirects=False, timeout=10).raise_for_status()
    bot.menu.push(bot.menu.required(), actor="admin")  # the menu page then shows a push in its history
    result = bot.ctx.services.posts.run_digest()
    return result.post or "1"


def shoot(url: str, post: str) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        for device, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
            sessions = {}
            for who in ("admin", "editor"):
                context = browser.new_context(viewport=viewport, locale="zh-CN", device_scale_factor=1)
                page = context.new_page()
                page.goto(f"{url}/console/login")
                page.fill("input[name=name]", who)
                page.fill("input[name=password]", PASSWORD)
                page.click("button[type=submit]")
                page.wait_for_load_state("networkidle")
                sessions[who] = page
            for name, path, who in PAGES:
                page = sessions[who]
                resp = page.goto(url + path.format(post=post))
                if resp is None or resp.status != 200:
                    print(f"skipped {name}: {path} answered {resp.status if resp else 'nothing'}")
                    continue
                page.wait_for_load_state("networkidle")
                target = OUT / f"{name}-{device}.png"
                page.screenshot(path=str(target), full_page=device == "desktop")
                print(f"wrote {target.relative_to(ROOT)}")
        browser.close()


if __name__ == "__main__":
    raise SystemExit(main())
