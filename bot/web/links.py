"""Tracked links: `/s/<token>` counts a survey click per day, pseudonymously, then redirects.

Only GET counts: a HEAD (link previews, crawlers checking the link) gets the same redirect uncounted.
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, redirect, request
from werkzeug.wrappers import Response

from bot.rules.survey import token_follower

bp = Blueprint("links", __name__)


@bp.get("/s/<token>")
def survey_redirect(token: str) -> Response:
    bot = current_app.extensions["wxbot"]
    who = token_follower(bot.config.secret_key, token)
    if who is None:
        abort(404)
    if request.method == "GET":  # Flask answers HEAD with this view too
        try:
            bot.store.count_survey_click(who, bot.ctx.today())
        except Exception:  # a click must reach the survey even when counting fails
            current_app.logger.warning("survey click not counted")
    return redirect(bot.ctx.services.rules.catalog().survey.url, code=302)  # the live catalog's
