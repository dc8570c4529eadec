"""The custom menu: WeChat's limits in UTF-8 bytes, the JSON sent, pushes through the fake WeChat over HTTP,
diffs, the phone's truncation, config.yaml's `menu:` and the `menu` commands."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from flask.testing import FlaskCliRunner

from bot import create_app
from bot.config import Config, ConfigError, parse_config
from bot.store import MENU_PUSHES_KEPT, Store
from bot.wechat.api import WeChatAPI, WeChatAPIError
from bot.wechat.menu import (
    ClickButton,
    Menu,
    MenuError,
    ParentButton,
    ViewButton,
    diff,
    display_width,
    from_wechat_json,
    parse_menu,
    phone_label,
    phone_labels,
    to_wechat_dict,
    to_wechat_json,
)
from bot.wechat.menu_service import MenuService, NoMenu, NoWeChatAPI

ROOT = Path(__file__).resolve().parent.parent
ARTICLE = "https://mp.weixin.qq.com/s/article"


def click(name: str = "帮助", key: str = "MENU_HELP") -> dict[str, Any]:
    return {"type": "click", "name": name, "key": key}


def view(name: str = "文章", url: str = ARTICLE) -> dict[str, Any]:
    return {"type": "view", "name": name, "url": url}


def problems(data: Any) -> list[str]:
    with pytest.raises(MenuError) as err:
        parse_menu(data)
    return list(err.value.problems)


SAMPLE = Menu((
    ParentButton("健康科普", (ViewButton("干细胞", ARTICLE), ViewButton("豆制品", ARTICLE + "2"))),
    ClickButton("问卷调查", "MENU_SURVEY"),
    ParentButton("我要提问", (ClickButton("怎么提问", "MENU_ASK"), ClickButton("能问什么", "MENU_HELP"))),
))


# -- parsing and WeChat's limits -----------------------------------------------------------------------------


def test_a_menu_parses_into_typed_buttons() -> None:
    menu = parse_menu({"button": [{"name": "健康科普", "sub_button": [view("干细胞", ARTICLE)]}, click()]})
    assert menu == Menu((ParentButton("健康科普", (ViewButton("干细胞", ARTICLE),)), ClickButton("帮助", "MENU_HELP")))
    assert menu.click_keys() == ["MENU_HELP"]


@pytest.mark.parametrize(("name", "ok"), [("健康科普知", True), ("健康科普知识", False), ("a" * 16, True),
                                          ("a" * 17, False), ("健康科普a", True)])
def test_top_names_count_utf8_bytes(name: str, ok: bool) -> None:
    data = {"button": [click(name)]}
    if ok:
        assert parse_menu(data).buttons[0].name == name
    else:
        assert problems(data) == [f"menu.button[0].name: {len(name.encode())} bytes, at most 16"]


def test_sub_button_names_allow_60_bytes() -> None:
    assert parse_menu({"button": [{"name": "科普", "sub_button": [view("字" * 20)]}]})  # 60 bytes
    assert problems({"button": [{"name": "科普", "sub_button": [click("问"), view("字" * 20 + "a")]}]}) == [
        "menu.button[0].sub_button[1].name: 61 bytes, at most 60"]


def test_keys_and_urls_count_bytes_at_their_limits() -> None:
    assert parse_menu({"button": [click(key="K" * 128)]})
    assert problems({"button": [click(key="键" * 43)]}) == ["menu.button[0].key: 129 bytes, at most 128"]
    url = "https://example.org/" + "a" * (1024 - 20)
    assert parse_menu({"button": [view(url=url)]})
    assert problems({"button": [view(url=url + "a")]}) == ["menu.button[0].url: 1025 bytes, at most 1024"]


@pytest.mark.parametrize(("data", "expected"), [
    ({"button": []}, "menu.button: 0 buttons, must be 1 to 3"),
    ({"button": [click(key=f"K{i}") for i in range(4)]}, "menu.button: 4 buttons, must be 1 to 3"),
    ({"menu": []}, "menu: unknown field 'menu'"),
    ([], "menu: must be a mapping with a button list"),
    ({"button": [{"name": "科普", "sub_button": [click(key=f"K{i}") for i in range(6)]}]},
     "menu.button[0].sub_button: 6 sub-buttons, at most 5"),
    ({"button": [{"name": "科普", "type": "click", "key": "K", "sub_button": [click()]}]},
     "menu.button[0]: a button with sub_button has no type, key"),
    ({"button": [{"name": "科普", "sub_button": [{"name": "深", "sub_button": [click()]}]}]},
     "menu.button[0].sub_button[0].sub_button: a sub-button cannot have sub-buttons"),
    ({"button": [{"name": "帮助"}]}, "menu.button[0].type: is required: click or view"),
    ({"button": [{"name": "帮助", "type": "miniprogram", "url": ARTICLE, "appid": "wx1", "pagepath": "p"}]},
     "menu.button[0].type: miniprogram buttons are not supported by this bot: use click or view"),
    ({"button": [{"name": "扫码", "type": "scancode_push", "key": "K"}]},
     "menu.button[0].type: 'scancode_push' buttons are not supported"),
    ({"button": [{"name": "帮助", "type": "tap", "key": "K"}]}, "menu.button[0].type: unknown type 'tap'"),
    ({"button": [{**click(), "colour": "red"}]}, "menu.button[0]: unknown field 'colour'"),
    ({"button": [{**click(), "url": ARTICLE}]}, "menu.button[0].url: a click button has no url"),
    ({"button": [{**view(), "key": "K"}]}, "menu.button[0].key: a view button has no key"),
    ({"button": [view(url="ftp://example.org/x")]}, "menu.button[0].url: must be an http(s) URL"),
    ({"button": [view(url="javascript:alert(1)")]}, "menu.button[0].url: must be an http(s) URL"),
    ({"button": [click(name="")]}, "menu.button[0].name: must not be empty"),
    ({"button": [click(name=" 帮助")]}, "menu.button[0].name: must not start or end with spaces"),
    ({"button": [click(name=3)]}, "menu.button[0].name: must be a string, not int"),
    ({"button": [{"type": "click", "key": "K"}]}, "menu.button[0].name: is required"),
    ({"button": [{"name": "帮助", "type": "click"}]}, "menu.button[0].key: is required"),
    ({"button": ["帮助"]}, "menu.button[0]: must be a mapping"),
    ({"button": [{"name": "科普", "sub_button": "x"}]}, "menu.button[0].sub_button: must be a list"),
])
def test_each_problem_is_named_with_its_path(data: Any, expected: str) -> None:
    found = problems(data)
    assert any(p.startswith(expected) for p in found), found


def test_every_problem_is_listed_at_once() -> None:
    data = {"button": [click("健康科普知识", "K"),
                       {"name": "提问", "sub_button": [click("问", "K"), view("链接", "mailto:x"), click("长" * 21, "L")]}]}
    assert problems(data) == [
        "menu.button[0].name: 18 bytes, at most 16",
        "menu.button[1].sub_button[0].key: duplicate key 'K' (also menu.button[0].key)",
        "menu.button[1].sub_button[1].url: must be an http(s) URL, got 'mailto:x'",
        "menu.button[1].sub_button[2].name: 63 bytes, at most 60",
    ]


# -- WeChat's JSON ----------------------------------------------------------------------------------------


def test_the_json_sent_is_raw_utf8_in_menu_creates_shape() -> None:
    body = to_wechat_json(SAMPLE)
    assert "健康科普" in body and "\\u" not in body
    assert json.loads(body) == {"button": [
        {"name": "健康科普", "sub_button": [view("干细胞"), view("豆制品", ARTICLE + "2")]},
        click("问卷调查", "MENU_SURVEY"),
        {"name": "我要提问", "sub_button": [click("怎么提问", "MENU_ASK"), click("能问什么", "MENU_HELP")]},
    ]}
    assert parse_menu(json.loads(body)) == SAMPLE


def test_menu_get_answers_are_read_with_their_empty_sub_buttons() -> None:
    answer = {"menu": {"button": [{**click(), "sub_button": []},
                                  {"name": "科普", "sub_button": [{**view(), "sub_button": []}]}], "menuid": 208396938}}
    assert from_wechat_json(json.dumps(answer, ensure_ascii=False)) == Menu(
        (ClickButton("帮助", "MENU_HELP"), ParentButton("科普", (ViewButton("文章", ARTICLE),))))
    with pytest.raises(MenuError, match="no menu object"):
        from_wechat_json({"errcode": 0})


# -- how it looks, what changed --------------------------------------------------------------------------------


def test_the_phone_cuts_names_by_display_width() -> None:
    assert display_width("健康科普") == 8 and display_width("ab") == 2 and display_width("é") == 1
    assert phone_label("健康科普", 8) == "健康科普"
    assert phone_label("健康科普知识", 8) == "健康科普…"
    assert phone_label("Services", 8) == "Services" and phone_label("Services!", 8) == "Services…"
    assert phone_label("AB健康科普", 8) == "AB健康科…"
    menu = Menu((ParentButton("肾移植健康科普", (ViewButton("一二三四五六七", ARTICLE),
                                                ViewButton("一二三四五六七八", ARTICLE))),))
    [top] = phone_labels(menu)
    assert (top.label, top.name, top.sub_labels) == ("肾移植健…", "肾移植健康科普", ("一二三四五六七", "一二三四五六七…"))


def test_diff_names_what_was_added_removed_changed_and_moved() -> None:
    assert diff(None, Menu((ClickButton("帮助", "K"),))) == ["+ 帮助 (click K)"]
    assert diff(SAMPLE, SAMPLE) == []
    new = Menu((
        ClickButton("问卷调查", "MENU_SURVEY_2"),
        ParentButton("健康科普", (ViewButton("豆制品", ARTICLE + "3"), ViewButton("干细胞", ARTICLE),
                                 ViewButton("饮食", ARTICLE + "4"))),
        ViewButton("门诊", "https://example.org/clinic"),
    ))
    assert diff(SAMPLE, new) == [
        "+ 健康科普 › 饮食 (view https://mp.weixin.qq.com/s/article4)",
        "+ 门诊 (view https://example.org/clinic)",
        "- 我要提问 (2 sub-buttons)",
        "- 我要提问 › 怎么提问 (click MENU_ASK)",
        "- 我要提问 › 能问什么 (click MENU_HELP)",
        "~ 问卷调查: click MENU_SURVEY → click MENU_SURVEY_2",
        "~ 健康科普 › 豆制品: view https://mp.weixin.qq.com/s/article2 → view https://mp.weixin.qq.com/s/article3",
        "↕ top buttons: 健康科普, 问卷调查 → 问卷调查, 健康科普",
        "↕ 健康科普 sub-buttons: 干细胞, 豆制品 → 豆制品, 干细胞",
    ]


def test_a_repeated_name_is_told_apart_in_the_diff() -> None:
    old = Menu((ClickButton("帮助", "A"), ClickButton("帮助", "B")))
    assert diff(old, Menu((ClickButton("帮助", "A"),))) == ["- 帮助 #2 (click B)"]


# -- config.yaml ------------------------------------------------------------------------------------------


def sample() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
    return data


def test_the_sample_menu_links_the_articles_and_its_keys_are_answered(base_config: Config, store: Store) -> None:
    from bot.rules.ruleset import RuleSet

    menu = base_config.menu
    assert menu is not None
    [science, survey, ask] = menu.buttons
    assert survey == ClickButton("问卷调查", "MENU_SURVEY")
    assert isinstance(science, ParentButton) and isinstance(ask, ParentButton)
    assert [b.url for b in science.sub_buttons if isinstance(b, ViewButton)] == [a.url for a in base_config.articles]
    assert menu.click_keys() == ["MENU_SURVEY", "MENU_ASK", "MENU_HELP"]
    rules = RuleSet(store, base_config)
    service = MenuService(store, None, menu, lambda key: bool(rules.current().explain(key, "click", _now())))
    report = service.check(menu)
    assert report.errors == () and report.warnings == ()


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


def test_no_menu_section_means_the_bot_leaves_the_menu_alone() -> None:
    data = sample()
    del data["menu"]
    assert parse_config(data, {}).menu is None


def test_view_buttons_may_name_an_article_or_the_survey() -> None:
    data = sample()
    data["menu"] = {"button": [{"name": "文章", "article": "soy-foods"}, {"name": "问卷", "survey": True}]}
    config = parse_config(data, {})
    assert config.menu is not None
    soy, survey = config.menu.buttons
    assert soy == ViewButton("文章", config.articles[1].url)
    assert isinstance(survey, ViewButton) and survey.url.startswith(config.account.public_base_url + "/s/menu.")
    from bot.rules.survey import token_follower

    assert token_follower(config.secret_key, survey.url.rsplit("/", 1)[1]) == "menu"  # a genuine tracked link


@pytest.mark.parametrize(("menu", "message"), [
    ({"button": [{"name": "健康科普知识", "type": "click", "key": "K"}]},
     "config.yaml: menu.button[0].name: 18 bytes, at most 16"),
    ({"button": [{"name": "科普", "sub_button": [{"name": "文", "article": "nope"}]}]},
     "config.yaml: menu.button[0].sub_button[0].article: unknown article 'nope' (articles: msc-immune-tolerance, "
     "soy-foods)"),
    ({"button": [{"name": "文", "article": "soy-foods", "url": ARTICLE}]},
     "config.yaml: menu.button[0]: give one of url, article or survey, not url and article"),
    ({"button": [{"name": "文", "type": "click", "survey": True}]},
     "config.yaml: menu.button[0].type: a button with survey is a view button, not 'click'"),
    ({"button": [{"name": "文", "survey": "yes"}]}, "config.yaml: menu.button[0].survey: must be true"),
    ({"button": "帮助"}, "config.yaml: menu.button: must be a list of 1 to 3 buttons"),
    ({"button": [{"name": "A", "article": "nope"}, {"name": "健康科普知识", "type": "click", "key": "K"}]},
     "config.yaml: menu.button[0].article: unknown article 'nope' (articles: msc-immune-tolerance, soy-foods); "
     "menu.button[1].name: 18 bytes, at most 16"),
])
def test_config_refuses_a_bad_menu_naming_the_field(menu: Any, message: str) -> None:
    data = sample()
    data["menu"] = menu
    with pytest.raises(ConfigError) as err:
        parse_config(data, {})
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


# -- the service, over the fake WeChat API (real HTTP) ----------------------------------------------------------


@pytest.fixture
def service(store: Store, qa_api: WeChatAPI) -> MenuService:
    answered = {"MENU_SURVEY", "MENU_ASK", "MENU_HELP"}
    return MenuService(store, qa_api, SAMPLE, answered.__contains__, clock=iter(range(1000, 2000)).__next__)


def test_push_creates_the_menu_and_menu_get_returns_it(service: MenuService, fake_wechat: Any) -> None:
    assert service.fetch() is None  # 46003: nothing created yet
    pushed = service.push(SAMPLE, actor="test")
    assert pushed.first and pushed.at == 1000
    assert pushed.changes[0] == "+ 健康科普 (2 sub-buttons)" and len(pushed.changes) == 7
    [call] = fake_wechat.state.calls("/cgi-bin/menu/create")
    assert call.errcode is None or call.errcode == 0
    assert call.body == to_wechat_dict(SAMPLE)
    stored = fake_wechat.state.menu()
    assert stored["button"][1] == {**click("问卷调查", "MENU_SURVEY"), "sub_button": []}  # WeChat's menu/get shape
    assert service.fetch() == SAMPLE
    last = service.last_pushed()
    assert last is not None and (last.menu, last.at) == (SAMPLE, 1000)


def test_a_second_push_reports_what_changed(service: MenuService) -> None:
    service.push(SAMPLE, actor="test")
    assert service.push(SAMPLE, actor="test").changes == ()
    smaller = Menu(SAMPLE.buttons[:2])
    pushed = service.push(smaller, actor="test")
    assert not pushed.first
    assert pushed.changes == ("- 我要提问 (2 sub-buttons)", "- 我要提问 › 怎么提问 (click MENU_ASK)",
                              "- 我要提问 › 能问什么 (click MENU_HELP)")
    assert [p.menu for p in service.history()] == [smaller, SAMPLE, SAMPLE]


def test_only_the_last_ten_pushes_are_kept(service: MenuService) -> None:
    for i in range(MENU_PUSHES_KEPT + 2):
        service.push(Menu((ClickButton("帮助", "MENU_HELP"), ViewButton("文章", f"{ARTICLE}{i}"))), actor="test")
    history = service.history(100)
    assert len(history) == MENU_PUSHES_KEPT
    assert history[0].menu.buttons[1] == ViewButton("文章", f"{ARTICLE}{MENU_PUSHES_KEPT + 1}")


@pytest.mark.parametrize(("errcode", "meaning"), [
    (40018, "menu button name too long (at most 16 bytes)"),
    (65316, "the menu links to too many domains (at most 3)"),
    (48001, "this account is not authorised for this API"),
])
def test_a_refusal_is_reported_with_its_meaning_and_nothing_is_recorded(
        service: MenuService, fake_wechat: Any, errcode: int, meaning: str) -> None:
    fake_wechat.state.inject("/cgi-bin/menu/create", errcode=errcode)
    with pytest.raises(WeChatAPIError) as err:
        service.push(SAMPLE, actor="test")
    assert err.value.code == errcode and err.value.message.startswith(meaning)
    assert service.last_pushed() is None and service.history() == []
    assert fake_wechat.state.menu() is None


def test_a_click_key_no_rule_answers_is_an_error_and_nothing_is_sent(service: MenuService, fake_wechat: Any) -> None:
    menu = Menu((ClickButton("帮助", "MENU_HELP"), ClickButton("新功能", "MENU_NEW")))
    report = service.check(menu)
    assert report.errors == ("menu.button[1].key: no enabled rule answers 'MENU_NEW' for a menu click (the follower "
                             "would get the default reply); add a rule with inputs [click] and this keyword",)
    with pytest.raises(MenuError, match="MENU_NEW"):
        service.push(menu, actor="test")
    assert fake_wechat.state.calls("/cgi-bin/menu/create") == []
    assert service.push(menu, allow_unanswered=True, actor="test").first


def test_a_hand_built_menu_is_checked_before_it_is_sent(service: MenuService, fake_wechat: Any) -> None:
    with pytest.raises(MenuError, match=r"menu\.button\[0\]\.name: 18 bytes, at most 16"):
        service.push(Menu((ClickButton("健康科普知识", "MENU_HELP"),)), actor="test")
    assert fake_wechat.state.calls("/cgi-bin/menu/create") == []


def test_warnings_name_cut_names_and_many_link_domains(service: MenuService) -> None:
    menu = Menu((ParentButton("肾移植科普", tuple(ViewButton(f"站{i}", f"https://s{i}.example.org/")
                                                for i in range(4))),))
    assert service.check(menu).warnings == (
        "menu.button[0].name: '肾移植科普' shows as '肾移植科…' on the phone",
        "menu: links to 4 domains (s0.example.org, s1.example.org, s2.example.org, s3.example.org); WeChat may "
        "refuse more than 3 (65316)",
    )


def test_an_edited_menu_wins_over_config_until_dropped(service: MenuService) -> None:
    edited = Menu((ClickButton("帮助", "MENU_HELP"),))
    assert service.current() == SAMPLE
    assert service.edit(edited, actor="test") == edited
    assert service.current() == edited
    with pytest.raises(MenuError):
        service.edit(Menu(()), actor="test")
    assert service.current() == edited
    service.drop_edit(actor="test")
    assert service.current() == SAMPLE


def test_without_a_menu_or_an_api_the_service_says_why(store: Store) -> None:
    service = MenuService(store, None, None, lambda key: True)
    with pytest.raises(NoMenu, match="add a menu: section"):
        service.required()
    with pytest.raises(NoWeChatAPI, match="WECHAT_APP_SECRET"):
        service.push(SAMPLE, actor="test")
    assert service.history() == []


# -- the fake refuses like WeChat -----------------------------------------------------------------------------


def _create(fake_wechat: Any, qa_api: WeChatAPI, body: Any, raw: bytes | None = None) -> Any:
    data = raw if raw is not None else json.dumps(body, ensure_ascii=False).encode("utf-8")
    res = requests.post(f"{fake_wechat.url}/cgi-bin/menu/create", params={"access_token": qa_api.access_token},
                        data=data, timeout=5)
    return res.json()["errcode"]


@pytest.mark.parametrize(("body", "errcode"), [
    ({"button": []}, 40016),
    ({"button": [click(key=f"K{i}") for i in range(4)]}, 40016),
    ({"button": [click(name="a" * 17)]}, 40018),
    ({"button": [{"name": "科普", "sub_button": [click(name="字" * 20 + "a")]}]}, 40025),
    ({"button": [click(key="k" * 129)]}, 40019),
    ({"button": [{"name": "科普", "sub_button": [click(key="k" * 129)]}]}, 40026),
    ({"button": [view(url="https://e.org/" + "a" * 1011)]}, 40020),
    ({"button": [{"name": "科普", "sub_button": [view(url="https://e.org/" + "a" * 1011)]}]}, 40027),
    ({"button": [{"name": "x", "type": "tap"}]}, 40017),
    ({"button": [{"name": "科普", "sub_button": [{"name": "x", "type": "tap"}]}]}, 40024),
    ({"button": [{"name": "科普", "sub_button": [{"name": "x", "sub_button": [click()]}]}]}, 40022),
    ({"button": [{"name": "科普", "sub_button": [click(key=f"K{i}") for i in range(6)]}]}, 40023),
    ({"button": [view(url="ftp://e.org/x")]}, 40055),
    ({"button": [{"name": "科普", "sub_button": [view(url="ftp://e.org/x")]}]}, 40054),
])
def test_the_fake_refuses_what_wechat_refuses(fake_wechat: Any, qa_api: WeChatAPI, body: Any, errcode: int) -> None:
    assert _create(fake_wechat, qa_api, body) == errcode
    assert fake_wechat.state.menu() is None


def test_the_fake_refuses_escapes_and_calls_without_a_token(fake_wechat: Any, qa_api: WeChatAPI) -> None:
    escaped = json.dumps({"button": [click()]}).encode()  # ensure_ascii: 帮助 as \\u escapes
    assert b"\\u" in escaped and _create(fake_wechat, qa_api, None, raw=escaped) == 40033
    res = requests.get(f"{fake_wechat.url}/cgi-bin/menu/get", timeout=5)
    assert res.json()["errcode"] == 41001
    assert _create(fake_wechat, qa_api, {"button": [click()]}) == 0
    res = requests.get(f"{fake_wechat.url}/cgi-bin/menu/delete", params={"access_token": qa_api.access_token},
                       timeout=5)
    assert res.json()["errcode"] == 0 and fake_wechat.state.menu() is None


# -- the commands ----------------------------------------------------------------------------------------------


def test_menu_show_draws_the_phone_and_check_passes(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["menu", "show"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[:4] == [
        "| 健康科普 | 问卷调查 | 我要提问 |",
        "[健康科普]",
        "  · 干细胞免疫耐受  view https://mp.weixin.qq.com/s/PLACEHOLDER-msc-immune-tolerance",
        "  · 豆制品能吃吗  view https://mp.weixin.qq.com/s/PLACEHOLDER-soy-foods",
    ]
    assert "[问卷调查]  click MENU_SURVEY" in result.output and result.output.endswith("last pushed: never\n")
    result = runner.invoke(args=["menu", "check"])
    assert (result.exit_code, result.output) == (0, "menu ok\n")


def test_menu_push_prints_the_diff_and_pull_gives_yaml_for_config(runner: FlaskCliRunner, base_config: Config) -> None:
    result = runner.invoke(args=["menu", "push"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("pushed (the first push)\n  + 健康科普 (2 sub-buttons)\n")
    result = runner.invoke(args=["menu", "push"])
    assert result.output == "pushed\n  no change from the last push\n"
    result = runner.invoke(args=["menu", "pull"])
    assert result.exit_code == 0, result.output
    assert "健康科普" in result.output and "\\u" not in result.output
    assert parse_menu(yaml.safe_load(result.output)["menu"]) == base_config.menu
    assert "last pushed: 2" in runner.invoke(args=["menu", "show"]).output


def test_menu_push_shows_wechats_errcode_and_meaning(runner: FlaskCliRunner, fake_wechat: Any) -> None:
    fake_wechat.state.inject("/cgi-bin/menu/create", errcode=40018)
    result = runner.invoke(args=["menu", "push"])
    assert result.exit_code == 1
    assert ("WeChat refused the menu: errcode 40018: menu button name too long (at most 16 bytes) "
            "(invalid button name size)") in result.output
    assert "never" in runner.invoke(args=["menu", "show"]).output


def test_menu_pull_without_a_menu_says_so(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["menu", "pull"])
    assert result.exit_code == 1 and "no menu created through the API (46003)" in result.output


def test_menu_check_fails_on_an_unanswered_key(config: Config, store: Store) -> None:
    menu = Menu((ClickButton("帮助", "MENU_HELP"), ClickButton("新功能", "MENU_NEW")))
    app = create_app({"TESTING": True}, config=replace(config, menu=menu), store=store)
    try:
        runner = app.test_cli_runner()
        result = runner.invoke(args=["menu", "check"])
        assert result.exit_code == 1
        assert "error: menu.button[1].key: no enabled rule answers 'MENU_NEW'" in result.output
        assert "1 error(s)" in result.output
        result = runner.invoke(args=["menu", "push"])
        assert result.exit_code == 1 and "pushed" not in result.output
        result = runner.invoke(args=["menu", "check", "--allow-unanswered"])
        assert result.exit_code == 0 and result.output.endswith("menu ok\n")
    finally:
        app.extensions["wxbot"].close()


def test_menu_commands_without_a_menu_say_how_to_add_one(config: Config, store: Store) -> None:
    app = create_app({"TESTING": True}, config=replace(config, menu=None), store=store)
    try:
        for command in ("show", "check", "push"):
            result = app.test_cli_runner().invoke(args=["menu", command])
            assert result.exit_code == 1 and "add a menu: section to config.yaml" in result.output
    finally:
        app.extensions["wxbot"].close()


def test_the_menu_buttons_are_answered_on_the_webhook(wechat: Any) -> None:
    assert "以“提问”开头" in wechat.event("CLICK", "MENU_ASK").show()
    assert "发送以下关键词" in wechat.event("CLICK", "MENU_HELP").show()


def test_injected_http_faults_apply_to_the_menu_too(service: MenuService, fake_wechat: Any) -> None:
    fake_wechat.state.inject("/cgi-bin/menu/create", http_status=502, times=3)
    with pytest.raises(WeChatAPIError) as err:
        service.push(SAMPLE, actor="test")
    assert err.value.message == "HTTP 502" and err.value.retryable
    assert len(fake_wechat.state.calls("/cgi-bin/menu/create")) == 3  # menu/create is safe to repeat: retried
    assert service.history() == [] and fake_wechat.state.menu() is None
    assert service.push(SAMPLE, actor="test").first
    assert fake_wechat.state.snapshot()["menus"] != {}
    fake_wechat.state.reset()
    assert fake_wechat.state.menu() is None and service.fetch() is None
