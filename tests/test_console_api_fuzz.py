"""The console's JSON API fuzzed from its own OpenAPI document (schemathesis) over real HTTP: never a 5xx."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, status_code_conformance

from tests.conftest import gunicorn, service_env
from tests.console import ADMIN, EDITOR, make_users


@pytest.fixture(scope="module")
def fuzzed(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One live service for the whole module (fuzzing starts no server per example), with both roles' tokens."""
    import uuid

    import yaml

    from bot.config import load_config
    from bot.fake_wechat import FakeAccount, FakeWeChatServer
    from bot.store import Store, delete_prefix
    from tests.conftest import APP_SECRET, ROOT

    base = load_config(ROOT / "config.yaml", env={})
    # A thousand calls in seconds from one token: the sample's rate limit would answer most of them 429 (a
    # declared answer, so the fuzzing would pass while testing nothing).
    data = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
    data["console"]["api_requests_per_minute"] = 100_000
    config_file = tmp_path_factory.mktemp("fuzz") / "config.yaml"
    config_file.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    store = Store.from_url(redis_url, prefix=f"test:{uuid.uuid4().hex[:12]}:")
    account = FakeAccount(appid=base.wechat.app_id, secret=APP_SECRET, original_id=base.account.original_id)
    with FakeWeChatServer(account=account) as fake, gunicorn(
            service_env(redis_url, store, fake, BOT_CONFIG=str(config_file))) as url:
        users = make_users(store, base).users
        yield {"url": url, "admin": users.issue_token(ADMIN, actor="test"),
               "editor": users.issue_token(EDITOR, actor="test")}
    delete_prefix(store.redis, store.prefix)
    store.close()


@schemathesis.check
def not_rate_limited(ctx: Any, response: Any, case: Any) -> None:
    """The fuzzing's own limit is high: a 429 here would mean the examples test nothing past the limit."""
    assert response.status_code != 429, f"{case.operation.label}: rate limited while fuzzing"


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, not_rate_limited]


def test_the_api_never_answers_5xx(fuzzed: dict[str, Any]) -> None:
    """Every declared operation, called with generated input and an admin token: each answer is one the
    document declares, JSON, and never a 5xx."""
    schema = schemathesis.openapi.from_url(f"{fuzzed['url']}/api/openapi.json")
    headers = {"Authorization": f"Bearer {fuzzed['admin']}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert operations
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def call(case: Any) -> None:
            case.call_and_validate(base_url=fuzzed["url"], headers=headers, checks=CHECKS)

        call()


def test_the_document_declares_every_api_route(fuzzed: dict[str, Any]) -> None:
    doc = requests.get(f"{fuzzed['url']}/api/openapi.json", timeout=10).json()
    assert doc["openapi"].startswith("3.1")
    for path, methods in doc["paths"].items():
        assert path.startswith("/api/")
        for op in methods.values():
            assert op["operationId"] and op["summary"] and "401" in op["responses"]
