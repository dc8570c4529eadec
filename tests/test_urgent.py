"""Urgent symptoms through the webhook with the seed rules of config.yaml: everyday phrasings get the
department's guidance, look-alikes (negations, other words around the symptom, questions about a risk) do not."""

from __future__ import annotations

import pytest

from bot.config import Config
from tests.conftest import WeChat

FEVER, URINE, GRAFT, REJECTION, MISSED = (
    "urgent-fever", "urgent-urine", "urgent-graft", "urgent-rejection", "urgent-missed-dose")

URGENT = [
    ("移植肾那里疼", GRAFT),
    ("移植的肾疼", GRAFT),
    ("肾区疼痛", GRAFT),
    ("移植肾部位肿胀", GRAFT),
    ("发低烧", FEVER),
    ("體溫37.8", FEVER),  # Traditional: 体温37.8
    ("38.5度", FEVER),
    ("烧到39度", FEVER),
    ("打疫苗后会发热吗", FEVER),  # a question about fever gets the guidance too (see config.yaml)
    ("忘记吃他克莫司了", MISSED),
    ("忘吃药了", MISSED),
    ("药忘吃了", MISSED),
    ("昨天没吃他克莫司", MISSED),
    ("药停了两天", MISSED),
    ("免疫抑制剂停了", MISSED),
    ("我停药三天了", MISSED),  # was the stem-cell article card ("停药18个月…")
    ("小便少", URINE),
    ("尿很少", URINE),
    ("没尿了", URINE),
    ("尿量比平时少很多", URINE),
    ("血尿", URINE),  # no guidance of its own yet: the urine rule's
    ("肌酐升到200了", REJECTION),
    ("我出现了排斥反应", REJECTION),  # was the stem-cell article card
    ("排斥反应怎么办", REJECTION),  # was the stem-cell article card
    # the seed's earlier keywords still match
    ("我发烧了想问干细胞", FEVER),
    ("昨天漏服了一次他克莫司", MISSED),
    ("尿量减少", URINE),
    ("移植肾区胀痛", GRAFT),
    ("肌酐升高", REJECTION),
]

NOT_URGENT = [
    "发热门诊在几楼",
    "我没有发烧，想问豆制品能吃吗",
    "这个诊断药物有副作用吗",  # 断药 inside 诊断药物
    "化验单写着无尿路感染",  # 无尿 inside 无尿路
    "吃豆腐会不会出现排斥",
    "低热量饮食怎么吃",
    "血尿酸高怎么办",  # serum uric acid, not blood in the urine
    "减少尿酸的方法",
    "今天38度能出门吗",  # a whole number of degrees may be the weather
    "忘记吃饭了",
    "移植肾不疼",
    "肌酐没有升高",
]


def guidance(config: Config, rule_id: str) -> str:
    [rule] = [r for r in config.seed_rules if r.id == rule_id]
    assert rule.urgent and len(rule.answer.texts) == 1
    return rule.answer.texts[0]


@pytest.mark.parametrize(("text", "rule_id"), URGENT)
def test_everyday_phrasings_get_the_urgent_guidance(wechat: WeChat, config: Config, text: str, rule_id: str) -> None:
    reply = wechat.send(text)
    assert reply.kind == "text"
    assert reply.text.startswith(f"⚠️ {guidance(config, rule_id)}\n{config.account.contact}")


@pytest.mark.parametrize("text", NOT_URGENT)
def test_look_alikes_do_not(wechat: WeChat, config: Config, text: str) -> None:
    reply = wechat.send(text)
    assert "⚠️" not in reply.text and config.account.contact not in reply.text


def test_the_stem_cell_article_is_still_reachable_but_not_by_stopping_drugs(config: Config) -> None:
    [article] = [a for a in config.articles if a.id == "msc-immune-tolerance"]
    assert "停药" not in article.keywords and "排斥反应" not in article.keywords
    assert {"干细胞", "免疫耐受"} <= set(article.keywords)
