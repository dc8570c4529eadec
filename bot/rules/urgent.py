"""How an urgent rule's answer reaches the follower: its guidance, the department's contact, a warning.

Validation needs the same wording (`RuleSet.validate` checks that urgent texts fit one reply with it).
"""

from __future__ import annotations


def urgent_text(guidance: str, contact: str) -> str:
    return f"⚠️ {guidance}\n{contact}\n紧急情况请勿等待答疑推送。"


def urgent_overhead(contact: str) -> int:
    """UTF-8 bytes the urgent reply adds around an urgent rule's text."""
    return len(urgent_text("", contact).encode("utf-8", "surrogatepass"))
