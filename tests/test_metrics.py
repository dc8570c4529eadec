"""`/metrics`: Prometheus text format counting pushes, rule hits, questions, API errors, posts and jobs;
reachable only from this host (or with METRICS_TOKEN); summed over every gunicorn worker."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import requests
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from bot import create_app
from bot.config import Config, ConfigError, load_config
from bot.store import Store
from bot.wechat.simulator import Account, message_xml, signed_request
from scheduler import jobs
from tests.conftest import ROOT, WeChat, gunicorn, service_env

TOKEN = "m" * 32


def sample(text: str, name: str, **labels: str) -> float:
    """One sample's value in an exposition (0 when absent)."""
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    return 0.0


def scrape(client: FlaskClient) -> str:
    response = client.get("/metrics")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    return response.get_data(as_text=True)


def test_pushes_rule_hits_questions_and_replays_are_counted(client: FlaskClient, wechat: WeChat) -> None:
    before = scrape(client)
    wechat.send("问卷")
    wechat.send("提问：移植后多久可以游泳？")
    query, body = signed_request(wechat.account, message_xml(wechat.account, "o_metrics", text="干细胞",
                                                             msg_id=777001))
    for _ in range(2):
        assert client.post("/wechat", query_string=query, data=body).status_code == 200
    after = scrape(client)

    def grew(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert grew("wxbot_pushes_total", kind="text", outcome="replied") == 3
    assert grew("wxbot_pushes_total", kind="text", outcome="replayed") == 1  # the dedup hit
    assert grew("wxbot_push_seconds_count") == 4
    assert grew("wxbot_rule_hits_total", rule="survey") == 1
    assert grew("wxbot_questions_total", outcome="new") == 1
    assert grew("wxbot_rule_hits_total", rule="article-msc-immune-tolerance") == 1  # not again for the replay
    assert "o_metrics" not in after and "游泳" not in after  # labels are kinds and ids, never follower data


def test_wechat_api_errors_and_token_refreshes_are_counted(client: FlaskClient, app: Any, fake_wechat: Any) -> None:
    api = app.extensions["wxbot"].api
    before = scrape(client)
    api.refresh_token()
    fake_wechat.state.inject("/cgi-bin/message/custom/send", errcode=45047)
    with pytest.raises(Exception, match="45047"):
        api.send_custom({"touser": "o_x", "msgtype": "text", "text": {"content": "hi"}})
    after = scrape(client)
    assert sample(after, "wxbot_token_refreshes_total") - sample(before, "wxbot_token_refreshes_total") == 1
    assert sample(after, "wxbot_wechat_api_errors_total", errcode="45047") - sample(
        before, "wxbot_wechat_api_errors_total", errcode="45047") == 1


def test_scheduler_runs_are_counted_by_job_and_result(client: FlaskClient) -> None:
    before = scrape(client)

    def failing_job() -> None:
        raise RuntimeError("boom")

    assert jobs.counted(jobs.deliver_outbox)(None, None) == 0  # no API: nothing to send
    with pytest.raises(RuntimeError):
        jobs.counted(failing_job)()
    after = scrape(client)
    for job, result in (("deliver_outbox", "ok"), ("failing_job", "error")):
        assert sample(after, "wxbot_scheduler_runs_total", job=job, result=result) - sample(
            before, "wxbot_scheduler_runs_total", job=job, result=result) == 1
    assert sample(after, "wxbot_scheduler_run_seconds_count", job="deliver_outbox") >= 1


def test_metrics_are_refused_through_the_proxy_and_without_the_token(config: Config, store: Store) -> None:
    app = create_app({"TESTING": True}, config=config, store=store)
    client = app.test_client()
    assert client.get("/metrics").status_code == 200  # a scraper on this host, no token configured
    assert client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"}).status_code == 403
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.9"}).status_code == 403
    app.extensions["wxbot"].close()
    guarded = create_app({"TESTING": True}, config=dataclasses.replace(config, metrics_token=TOKEN), store=store)
    client = guarded.test_client()
    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics", headers={"Authorization": "Bearer " + "x" * 32}).status_code == 403
    ok = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"},
                    environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert ok.status_code == 200 and b"wxbot_pushes_total" in ok.data
    guarded.extensions["wxbot"].close()


def test_a_short_metrics_token_is_refused_naming_it() -> None:
    with pytest.raises(ConfigError, match="METRICS_TOKEN: must be at least 24"):
        load_config(ROOT / "config.yaml", env={"METRICS_TOKEN": "short"})


def test_every_worker_counts_into_one_exposition(redis_url: str, store: Store, fake_wechat: Any,
                                                tmp_path: Path) -> None:
    config = load_config(ROOT / "config.yaml", env={})
    account = Account(config.wechat.token, config.wechat.app_id, original_id=config.account.original_id)
    env = service_env(redis_url, store, fake_wechat, PROMETHEUS_MULTIPROC_DIR=str(tmp_path))
    with gunicorn(env, workers=2) as url:
        pushes = 40
        with requests.Session() as session:  # new connections: the two workers share them
            for i in range(pushes):
                query, body = signed_request(account, message_xml(account, f"o_mp_{i}", text="问卷"))
                assert requests.post(url + "/wechat", params=query, data=body, timeout=10).status_code == 200
            scrapes = [session.get(url + "/metrics", timeout=10).text for _ in range(4)]
    pids = {p.name.split("_")[-1] for p in tmp_path.glob("*.db")}
    assert len(pids) >= 2, pids  # both workers wrote their counts
    for text in scrapes:  # whichever worker answers, it adds up all of them
        assert sample(text, "wxbot_pushes_total", kind="text", outcome="replied") == pushes
        assert sample(text, "wxbot_rule_hits_total", rule="survey") == pushes
