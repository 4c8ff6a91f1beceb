"""/admin/analytics: the form, its provider fields and live preview (HTMX fragments), and saving."""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from app.config import Settings
from app.web.links import base_url, path_prefix
from app.web.session import PageSession
from app.web.templating import is_htmx, render
from app.webanalytics.script import tracker_script
from app.webanalytics.store import read_analytics, save_analytics
from app.webanalytics.tracking import (
    AnalyticsConfig,
    AnalyticsForm,
    FormResult,
    build_config,
    form_from_stored,
    validate_form,
)

PROVIDERS = (("none", "None"), ("matomo", "Matomo"), ("google-analytics", "Google Analytics"))
# The fields each provider shows, each with an error beside it that a preview updates.
FIELDS = {"matomo": ("tracker_url", "site_id"), "google-analytics": ("measurement_id",)}


@dataclass(frozen=True)
class Preview:
    """What the portal must add for the configuration being typed."""

    config: AnalyticsConfig
    script_tag: str
    csp: tuple[str, ...]  # one directive per line, e.g. "script-src https://a https://b"
    script: str


class AnalyticsViews:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    async def page(self, request: Request, session: PageSession, form: dict[str, str]) -> Response:
        values = form_from_stored(await read_analytics())
        saved = request.query_params.get("saved") == "1"
        context = self._context(request, session, values, {}, saved=saved)
        return render(request, "admin/analytics.html", context)

    async def save(self, request: Request, session: PageSession, form: dict[str, str]) -> Response:
        """Store valid input at once; invalid input comes back with the errors and is not saved."""
        values = form_from_request(form, AnalyticsForm(provider=""))
        result = validate_form(values)
        if result.stored is not None:
            await save_analytics(result.stored)
            if not is_htmx(request):  # post/redirect/get: a reload does not post again
                target = path_prefix(request, self._settings) + "/admin/analytics?saved=1"
                return RedirectResponse(target, status_code=303)
            values = form_from_stored(result.stored)  # as stored: normalised
        context = self._context(request, session, values, result.errors, saved=not result.errors)
        name = "admin/_form.html" if is_htmx(request) else "admin/analytics.html"
        return render(request, name, context, status_code=422 if result.errors else 200)

    async def fields(
        self, request: Request, session: PageSession, form: dict[str, str]
    ) -> Response:
        """The chosen provider's fields (typed values kept, else the stored ones) and preview."""
        values = form_from_request(form, form_from_stored(await read_analytics()))
        context = self._context(request, session, values, {})
        return render(request, "admin/_provider_switch.html", context)

    async def preview(
        self, request: Request, session: PageSession, form: dict[str, str]
    ) -> Response:
        """The preview of what is typed, with each field's error (or none) swapped beside it."""
        values = form_from_request(form, AnalyticsForm(provider=""))
        result = validate_form(values)
        context = {**self._context(request, session, values, result.errors), "oob_errors": True}
        return render(request, "admin/_preview.html", context)

    def _context(
        self,
        request: Request,
        session: PageSession,
        values: AnalyticsForm,
        errors: Mapping[str, str],
        saved: bool = False,
    ) -> dict[str, Any]:
        result = FormResult(None, dict(errors)) if errors else validate_form(values)
        return {
            "csrf_token": session.csrf_token,
            "prefix": path_prefix(request, self._settings),
            "signed_in": True,
            "providers": PROVIDERS,
            "form": values,
            "errors": errors,
            "error_fields": FIELDS.get(values.provider, ()),
            "saved": saved,
            "preview": preview(result, base_url(request, self._settings)),
            "oob_errors": False,
        }


def form_from_request(values: Mapping[str, str], fallback: AnalyticsForm) -> AnalyticsForm:
    """The form's fields; those it lacks (another provider's, hidden) come from `fallback`.

    An unticked checkbox sends nothing, so `cookieless` is off when the Matomo fields were sent
    without it.
    """
    has_matomo_fields = "tracker_url" in values or "site_id" in values
    return AnalyticsForm(
        provider=values.get("provider", fallback.provider),
        tracker_url=values.get("tracker_url", fallback.tracker_url),
        site_id=values.get("site_id", fallback.site_id),
        cookieless="cookieless" in values if has_matomo_fields else fallback.cookieless,
        measurement_id=values.get("measurement_id", fallback.measurement_id),
    )


def preview(result: FormResult, base: str) -> Preview | None:
    if result.stored is None:
        return None
    config = build_config(result.stored, base)
    directives = (
        ("script-src", config.csp_script_src),
        ("connect-src", config.csp_connect_src),
        ("img-src", config.csp_img_src),
    )
    return Preview(
        config=config,
        script_tag=f'<script src="{html.escape(config.script_url)}"></script>',
        csp=tuple(f"{name} {' '.join(sources)}" for name, sources in directives if sources),
        script=tracker_script(config),
    )
