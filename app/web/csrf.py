"""CSRF: every admin form and HTMX request carries its session's token; anything else is refused."""

from __future__ import annotations

import hmac
from collections.abc import Mapping

from starlette.requests import Request

from app.errors import ForbiddenError
from app.web.session import PageSession

FIELD = "csrf_token"  # the hidden input of every form
HEADER = "X-CSRF-Token"  # what HTMX sends (hx-headers on <body>)


def check_csrf(request: Request, session: PageSession | None, form: Mapping[str, str]) -> None:
    """Raise ForbiddenError unless the request carries the session's CSRF token."""
    submitted = request.headers.get(HEADER) or form.get(FIELD, "")
    expected = session.csrf_token if session is not None else ""
    # Bytes, because compare_digest refuses a str with non-ASCII characters.
    if not (expected and submitted) or not hmac.compare_digest(
        expected.encode(), submitted.encode()
    ):
        raise ForbiddenError(
            "the form's CSRF token is missing or does not match your session: "
            "reload the page and submit it again"
        )
