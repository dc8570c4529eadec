"""Tracked links: `/s/<token>` counts a survey click per day, pseudonymously, then redirects.

Only GET counts: a HEAD (link previews, crawlers checking the link) gets the same redirect uncounted.
"""

from __future__ import annotations

import hashlib
import hmac

from flask import Blueprint, abort, current_app, redirect, request
from werkzeug.wrappers import Response

from bot.wechat import same

bp = Blueprint("links", __name__)


def _sign(secret_key: str, who: str) -> str:
    return hmac.new(secret_key.encode(), b"survey\x00" + who.encode(), hashlib.sha256).hexdigest()[:12]


def survey_token(secret_key: str, pseudonym: str) -> str:
    """A token naming the follower only by pseudonym; the signature stops forged click counts."""
    who = pseudonym.removeprefix("u_")[:16]
    return f"{who}.{_sign(secret_key, who)}"


def survey_link(base_url: str, secret_key: str, pseudonym: str) -> str:
    return f"{base_url}/s/{survey_token(secret_key, pseudonym)}"


@bp.get("/s/<token>")
def survey_redirect(token: str) -> Response:
    bot = current_app.extensions["wxbot"]
    who, _, sig = token.partition(".")
    if not who or len(who) > 16 or not same(_sign(bot.config.secret_key, who), sig):
        abort(404)
    if request.method == "GET":  # Flask answers HEAD with this view too
        try:
            bot.store.count_survey_click(who, bot.ctx.today())
        except Exception:  # a click must reach the survey even when counting fails
            current_app.logger.warning("survey click not counted")
    return redirect(bot.config.survey.url, code=302)
