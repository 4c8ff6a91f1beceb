"""GET /analytics/config.json and /analytics/tracker.js: what a portal's front end loads."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from app.config import Settings
from app.web.links import base_url
from app.webanalytics.script import tracker_script
from app.webanalytics.store import read_analytics
from app.webanalytics.tracking import AnalyticsConfig, build_config, config_document

# A portal's cache (and the browser) may keep them a minute: a saved change shows within that.
# Any site may read them: they are public, and the portal's front end fetches them cross-origin.
PUBLIC_HEADERS = {
    "Cache-Control": "public, max-age=60",
    "Access-Control-Allow-Origin": "*",
    "X-Content-Type-Options": "nosniff",
}


# Without USAGE_METRICS_PUBLIC_URL the script's URL is built from the request's Host, which any
# client writes: a shared cache must not keep one client's answer for the others
# (docs/security.md). The browser may still keep its own copy a minute.
HOST_BUILT_HEADERS = {**PUBLIC_HEADERS, "Cache-Control": "private, max-age=60", "Vary": "Host"}


class PublicAnalytics:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._headers = PUBLIC_HEADERS if settings.public_url else HOST_BUILT_HEADERS

    async def config_json(self, request: Request) -> Response:
        config = await self._config(request)
        return JSONResponse(config_document(config), headers=self._headers)

    async def tracker_js(self, request: Request) -> Response:
        config = await self._config(request)
        return Response(
            tracker_script(config), media_type="application/javascript", headers=self._headers
        )

    async def _config(self, request: Request) -> AnalyticsConfig:
        return build_config(await read_analytics(), base_url(request, self._settings))
