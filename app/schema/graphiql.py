"""GraphiQL for a browser's GET /graphql: our page and its vendored files (static/graphiql/)."""

from __future__ import annotations

from starlette.responses import HTMLResponse, Response

from app.web.templating import PAGE_HEADERS, STATIC_DIR

PAGE = (STATIC_DIR / "graphiql" / "index.html").read_text(encoding="utf-8")
# The admin pages' policy (our own files only, no inline script or style), and the fonts that
# GraphiQL's style sheet embeds as data: URLs, which carry no script.
HEADERS = {
    **PAGE_HEADERS,
    "Content-Security-Policy": PAGE_HEADERS["Content-Security-Policy"] + "; font-src 'self' data:",
}


def graphiql_page() -> Response:
    return HTMLResponse(PAGE, headers=HEADERS)
