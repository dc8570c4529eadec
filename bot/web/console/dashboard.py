"""The console's landing page."""

from __future__ import annotations

from bot.web.console.auth import Caller
from bot.web.console.blueprints import pages
from bot.web.console.views import page, render


@pages.get("/")
@page(None)
def dashboard(who: Caller) -> str:
    return render("console/dashboard.html")
