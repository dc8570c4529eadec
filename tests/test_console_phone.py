"""Every page of the console's navigation at phone width (375 px) in Chromium: no sideways scrolling, no
resource refused by the Content-Security-Policy, the navigation the role may use."""

from __future__ import annotations

from typing import Any

import pytest

from tests.console import ADMIN, EDITOR, browser_login

PHONE = {"width": 375, "height": 740}


def _nav_links(page: Any) -> list[str]:
    return [str(a.get_attribute("href")) for a in page.query_selector_all(".nav-links a")]


@pytest.mark.browser
@pytest.mark.parametrize("who", [ADMIN, EDITOR])
def test_every_page_fits_a_phone(live_server: str, console_users: Any, page: Any, who: str) -> None:
    page.set_viewport_size(PHONE)
    browser_login(page, live_server, who)
    links = _nav_links(page)
    assert links, "no navigation"
    for href in links:
        resp = page.goto(live_server + href)
        assert resp is not None and resp.status == 200, href
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"{href} is {width} px wide on a 375 px phone"
    # Offline, the sample articles' covers (example.org) cannot load; that is no fault of the page.
    assert [e for e in page.console_errors if "ERR_NAME_NOT_RESOLVED" not in e] == []
    if who == EDITOR:
        assert not any(h.startswith(("/console/rules", "/console/users", "/console/audit")) for h in links)
