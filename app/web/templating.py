"""Jinja2 templates (autoescape on, unknown names fail) and the headers every admin page gets."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES_DIR = ROOT / "templates"
STATIC_DIR = ROOT / "static"

# Pages load nothing but our own files; no inline script or style, no framing.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}
# htmx: no eval (the CSP forbids it), no inline style (no indicator style sheet, and no "style"
# among the attributes it copies while settling: setting one breaks the CSP's style-src, and our
# pages have none), and a 422 answer (invalid input) is swapped in like a 200 so that the errors
# show beside the fields. Settled at once: htmx wires the new content's forms and links when it
# settles (20 ms later by default, longer on a busy machine), so a control changed in between
# did nothing (its change came before htmx listened; a browser test caught it).
HTMX_CONFIG = json.dumps(
    {
        "defaultSettleDelay": 0,
        "allowEval": False,
        "allowScriptTags": False,
        "includeIndicatorStyles": False,
        "attributesToSettle": ["class", "width", "height"],
        "responseHandling": [
            {"code": "204", "swap": False},
            {"code": "[23]..", "swap": True},
            {"code": "422", "swap": True},
            {"code": "[45]..", "swap": False, "error": True},
        ],
    }
)

# auto_reload off: the templates ship with the code, and checking each one's modification time
# cost a page ~90 stat calls.
templates = Jinja2Templates(
    env=Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=StrictUndefined,
        auto_reload=False,
    )
)
templates.env.globals["htmx_config"] = HTMX_CONFIG


def render(
    request: Request,
    name: str,
    context: Mapping[str, Any],
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """A page or an `_fragment.html`, with the admin pages' security headers."""
    return templates.TemplateResponse(
        request,
        name,
        dict(context),
        status_code=status_code,
        headers={**PAGE_HEADERS, **(headers or {})},
    )


def is_htmx(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true"
