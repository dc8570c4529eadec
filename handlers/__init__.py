"""Message routing: one module per feature, and the one place their order is declared."""

from __future__ import annotations

from handlers import fallback, help_menu, keywords, platform, publishing, questions, urgent, welcome
from handlers.base import Context, Dispatcher, Outcome, Router


def dispatch_order() -> tuple[Router, ...]:
    """The routers, in the order they are asked; the first that accepts a message handles it."""
    return (
        platform.PlatformEvents(),  # template-send results and silent events: never a reply
        publishing.PublishFinished(),  # PUBLISHJOBFINISH / MASSSENDJOBFINISH of a reply post: record it, tell askers
        questions.Unsubscribed(),  # a follower left: delete the openid kept to tell them about answers
        urgent.Urgent(),  # urgent symptoms outrank every other feature
        questions.ExplicitQuestion(),  # "提问…", "Q: …", "？…": store it, say when the reply post is due
        questions.LatestPost(),  # "答疑": the latest published Q&A reply post
        help_menu.Help(),  # "帮助", "菜单", "?": the topic list
        keywords.Keywords(),  # admin rules: article cards, the survey, fixed texts, menu keys
        welcome.Welcome(),  # subscribe with no rule of its own: greeting and topics
        questions.UnmatchedQuestion(),  # long text nothing answered, if questions.unmatched.enabled
        fallback.Fallback(),  # everything else: the polite default
    )


def build_dispatcher() -> Dispatcher:
    return Dispatcher(dispatch_order())


__all__ = ["Context", "Dispatcher", "Outcome", "Router", "build_dispatcher", "dispatch_order"]
