"""The console's two blueprints: server-rendered pages under /console and the JSON API under /api.

Each feature module adds its routes to these; `bot.web.console.init_app` imports them all and registers both.
"""

from __future__ import annotations

from flask import Blueprint

pages = Blueprint("console", __name__, url_prefix="/console", template_folder="templates",
                  static_folder="static", static_url_path="/static")
api = Blueprint("api", __name__, url_prefix="/api")
