"""Logging in through the login page in Chromium, as a user does (every Chromium test starts there)."""

from __future__ import annotations

import re

from tests import factories


def log_in(page, base: str, email: str = "caller@test.example", *, landing: str | None = r"/board/opportunities"):
    """Fill and send the login form; wait for the page the user lands on (``landing``, a URL pattern), or for
    the answer's load when ``None`` (a page the test checks itself)."""
    page.goto(f"{base}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", factories.PASSWORD)
    page.click("button[type=submit]")
    if landing is None:
        page.wait_for_load_state("load")
    else:
        page.wait_for_url(re.compile(landing))
