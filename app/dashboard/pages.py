"""/login, /logout, /dashboard, a dataset's page and the exports (docs/dashboard.md).

Every page is whole without JavaScript; with htmx, a control asks for the same URL and the
answer is only the part it replaces (the `HX-Target` header names it), its URL pushed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from app import reports
from app.auth.scope import Scope, can_read_usage, scope_of
from app.auth.tokens import Principal, TokenChecker
from app.config import Settings
from app.core.intervals import Interval
from app.core.records import Owner
from app.dashboard import data, exports
from app.dashboard.example import first_batch_command
from app.dashboard.labels import translator
from app.dashboard.overview import Overview
from app.dashboard.picker import (
    SEARCH_PARAMETER,
    OwnerPicker,
    owner_choices,
    owner_label,
    owner_picker,
)
from app.dashboard.present import (
    GROUPS_READ,
    Translate,
    present_overview,
    present_table,
    updated,
)
from app.dashboard.subscriptions import SubscriptionPages
from app.dashboard.view import Lang, View, as_lang, preferred_language, read_view
from app.errors import UsageMetricsError
from app.web.backoff import SignInBackoff
from app.web.gate import SessionGate
from app.web.links import base_url, path_prefix
from app.web.session import DASHBOARD_SESSION, PageSession, SessionCookies
from app.web.signin import SignIn, SignInPages
from app.web.templating import is_htmx, render

# The parts a control may ask for alone (the id of the element it replaces): the view, and the
# owner picker's list as a search narrows it.
VIEW_PART = "view"
PICKER_PART = "owner-picker"
# The query values an error page keeps in its period form (the rest of the view is lost).
KEPT_ON_ERROR = frozenset({"group", "domain", "dataset", "owner", "lang", "compare", "metric"})


def request_lang(request: Request) -> Lang:
    return as_lang(request.query_params.get("lang")) or preferred_language(
        request.headers.get("accept-language")
    )


def _sign_in_context(request: Request) -> Mapping[str, Any]:
    lang = request_lang(request)
    refused = request.query_params.get("portal") == "refused"  # set by the gate (PORTAL_REFUSED)
    return {"t": translator(lang), "lang": lang, "portal_refused": refused}


class DashboardPages:
    def __init__(
        self, settings: Settings, tokens: TokenChecker, backoff: SignInBackoff | None = None
    ) -> None:
        self._settings = settings
        sessions = SessionCookies(settings, DASHBOARD_SESSION)
        self._gate = SessionGate(
            settings,
            tokens,
            sessions,
            accepts=can_read_usage,
            sign_in_path="/login",
            portal_sessions=True,
        )
        pages = SignInPages(
            "dashboard/login.html",
            "dashboard/logout.html",
            "/login",
            "/dashboard",
            failed_message=lambda request: translator(request_lang(request))("sign_in_failed"),
            throttled_message=lambda request, seconds: translator(request_lang(request))(
                "sign_in_throttled", seconds=seconds
            ),
            context=_sign_in_context,
        )
        self._sign_in = SignIn(settings, tokens, self._gate, pages, backoff)

    def routes(self) -> list[BaseRoute]:
        gate, sign_in = self._gate, self._sign_in
        return [
            Route("/login", sign_in.page, methods=["GET"]),
            Route("/login", sign_in.submit, methods=["POST"]),
            Route("/logout", gate.admin(sign_in.confirm_sign_out), methods=["GET"]),
            Route("/logout", gate.admin(self.sign_out), methods=["POST"]),
            Route("/dashboard", gate.signed_in(self.dashboard), methods=["GET"]),
            Route("/dashboard/export.csv", gate.signed_in(self.export_csv), methods=["GET"]),
            Route("/dashboard/export.xlsx", gate.signed_in(self.export_xlsx), methods=["GET"]),
            Route("/dashboard/datasets/{id:path}", gate.signed_in(self.dataset), methods=["GET"]),
            *SubscriptionPages(self._settings, gate).routes(),
        ]

    async def sign_out(
        self, request: Request, session: PageSession, form: dict[str, str]
    ) -> Response:
        response = await self._sign_in.sign_out(request, session, form)
        if as_lang(request.query_params.get("lang")) == "fr":
            # Signed out from the French pages: the sign-in page that follows is French too.
            response.headers["location"] += "?lang=fr"
        return response

    def today(self) -> date:
        return self._settings.today or datetime.now(self._settings.timezone).date()

    def _now_today(self) -> datetime:
        """Now, in the service's time zone, on the dashboard's today (USAGE_METRICS_TODAY may
        fix another day): a line timed so counts in the default view."""
        now = datetime.now(self._settings.timezone)
        today = self.today()
        return now.replace(year=today.year, month=today.month, day=today.day)

    def _view(self, request: Request, scope: Scope, dataset: str | None = None) -> View:
        return read_view(
            list(request.query_params.multi_items()),
            today=self.today(),
            scope=scope,
            accept_language=request.headers.get("accept-language"),
            dataset=dataset,
        )

    async def dashboard(
        self, request: Request, session: PageSession, principal: Principal
    ) -> Response:
        scope = _scope(principal)
        try:
            view = self._view(request, scope)
        except UsageMetricsError as exc:
            return self._refused(request, session, exc, here="/dashboard")
        return await self._page(request, session, scope, view, dataset=None)

    async def dataset(
        self, request: Request, session: PageSession, principal: Principal
    ) -> Response:
        scope = _scope(principal)
        dataset_id = request.path_params["id"]
        found = (await reports.datasets_by_id([dataset_id])).get(dataset_id)
        if found is None or not scope.can_see(found.owner):
            # Another owner's dataset is as absent as one that does not exist.
            return self._not_found(request, session)
        # The dataset's owner, not the admin's pick: the page is about that dataset.
        try:
            view = self._view(request, Scope.of(found.owner), dataset=dataset_id)
        except UsageMetricsError as exc:
            here = f"/dashboard/datasets/{quote(dataset_id, safe='')}"
            return self._refused(request, session, exc, here=here)
        return await self._page(request, session, scope, view, dataset=found)

    async def _page(
        self,
        request: Request,
        session: PageSession,
        scope: Scope,
        view: View,
        dataset: reports.DatasetRow | None,
    ) -> Response:
        t = translator(view.lang)
        prefix = path_prefix(request, self._settings)
        here = prefix + (
            f"/dashboard/datasets/{quote(dataset.id, safe='')}" if dataset else "/dashboard"
        )
        context: dict[str, Any] = {
            "t": t,
            "lang": view.lang,
            "view": view,
            "here": here,
            "prefix": prefix,
            "csrf_token": session.csrf_token,
            "signed_in": session.is_signed_in,  # a portal session signs out at the portal
            "dataset": dataset,
            "is_admin": scope.is_every_owner,
            "owner_name": owner_label(dataset.owner, dataset.owner_name, t) if dataset else "",
            "portal_href": _portal_href(self._settings, dataset),
            "oob": False,
        }
        part = request.headers.get("HX-Target") if is_htmx(request) else None
        headers = {"Vary": "HX-Request, HX-Target, Accept-Language"}
        search = request.query_params.get(SEARCH_PARAMETER, "")
        if part == PICKER_PART:
            # A search in the picker: its list alone, none of the figures.
            context["picker"] = None if dataset else await _owner_picker(scope, view, search, t)
            return render(request, "dashboard/_owner_picker.html", context, headers=headers)
        total = await data.count_datasets(view)
        if total == 0 and not view.datasets and dataset is None:
            # An owner has no ingest token: only an admin is shown how to send a batch.
            if scope.is_every_owner:
                now = self._now_today()
                context["command"] = first_batch_command(base_url(request, self._settings), now)
            return render(request, "dashboard/empty.html", context, headers=headers)

        async def table() -> data.DatasetsPage | None:
            return None if dataset is not None else await data.read_datasets_page(view, total)

        async def picker() -> OwnerPicker | None:
            return None if dataset is not None else await _owner_picker(scope, view, search, t)

        # Side by side: on PostgreSQL the ranking of every dataset, the breakdowns and the
        # owners are read on connections of their own at once.
        now = datetime.now(UTC)
        overview, page, context["picker"], fresh = await asyncio.gather(
            data.read_overview(view, GROUPS_READ), table(), picker(), data.read_freshness(now)
        )
        zone = str(self._settings.timezone)
        context["overview"] = present_overview(
            view, overview, here, t, zone, self._settings.consumers_min
        )
        context["updated"] = updated(fresh, now, t, view.lang)
        context["is_empty"] = not _has_usage(overview)
        if page is not None:
            context["table"] = present_table(view, page, here, t)
        if part == VIEW_PART:
            # The header's language links live outside #view: sent along, out of band, so that
            # they keep the view the swap just showed.
            context["oob"] = True
            return render(request, "dashboard/_view.html", context, headers=headers)
        return render(request, "dashboard/page.html", context, headers=headers)

    async def export_csv(
        self, request: Request, session: PageSession, principal: Principal
    ) -> Response:
        try:
            view = self._view(request, _scope(principal))
        except UsageMetricsError as exc:
            return self._refused(request, session, exc)
        rows = await reports.details(view.usage, view.period)
        titles = await _titles({row.dataset_id for row in rows})
        return _download(
            exports.csv_export(rows, titles),
            "text/csv; charset=utf-8",
            exports.file_name(view.period, "csv", _scope_words(view)),
        )

    async def export_xlsx(
        self, request: Request, session: PageSession, principal: Principal
    ) -> Response:
        try:
            view = self._view(request, _scope(principal))
        except UsageMetricsError as exc:
            return self._refused(request, session, exc)
        overview = await data.read_overview(view, None)  # every group: the sheets list them
        days = await data.read_chart(view, Interval.DAY)
        datasets = await data.read_all_datasets(view)
        # ~0.6 s for 10 000 datasets: off the event loop.
        body = await run_in_threadpool(
            exports.xlsx_export,
            overview,
            days,
            datasets,
            view.lang,
            self._settings.consumers_min,
        )
        return _download(
            body,
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            exports.file_name(view.period, "xlsx", _scope_words(view)),
        )

    def _refused(
        self, request: Request, session: PageSession, exc: UsageMetricsError, here: str = ""
    ) -> Response:
        lang = request_lang(request)
        prefix = path_prefix(request, self._settings)
        params = request.query_params
        context = {
            "t": translator(lang),
            "lang": lang,
            "prefix": prefix,
            "here": prefix + here,
            "csrf_token": session.csrf_token,
            "signed_in": session.is_signed_in,  # a portal session signs out at the portal
            "message": exc.message,
            # The period form comes back with what was typed, so it can be corrected in place.
            "start": params.get("start", ""),
            "end": params.get("end", ""),
            "kept": [(k, v) for k, v in params.multi_items() if k in KEPT_ON_ERROR],
            "lang_query": f"?lang={lang}" if params.get("lang") else "",
        }
        if is_htmx(request) and request.headers.get("HX-Target") == VIEW_PART:
            # htmx swaps a 422 in (app/web/templating.py): the error shows where the view was.
            return render(request, "dashboard/_refused.html", context, status_code=422)
        return render(request, "dashboard/refused.html", context, status_code=exc.status_code)

    def _not_found(self, request: Request, session: PageSession) -> Response:
        lang = request_lang(request)
        context = {
            "t": translator(lang),
            "lang": lang,
            "prefix": path_prefix(request, self._settings),
            "csrf_token": session.csrf_token,
            "signed_in": session.is_signed_in,  # a portal session signs out at the portal
            "message": translator(lang)("no_such_dataset"),
            "here": "",
            "lang_query": "",
        }
        return render(request, "dashboard/refused.html", context, status_code=404)


async def _owner_picker(scope: Scope, view: View, search: str, t: Translate) -> OwnerPicker | None:
    """The owner picker, names read in one statement: an admin's finds every owner of a
    dataset, a portal session's its own owners; none for a caller of one owner."""
    if scope.owners is None:
        named = await reports.dataset_owners()
    elif scope.has_choice:
        named = await reports.named_owners(scope.owners)
    else:
        return None
    return owner_picker(owner_choices(named, t), view.owner, search, t, view.lang)


def _has_usage(overview: Overview) -> bool:
    totals = overview.totals
    return any(any(t) for t in (totals.api_calls, totals.downloads, totals.app_opens))


def _portal_href(settings: Settings, dataset: reports.DatasetRow | None) -> str | None:
    if settings.portal_url is None or dataset is None:
        return None
    return f"{settings.portal_url}/datasets/{quote(dataset.id, safe='')}"


def _scope_words(view: View) -> list[str]:
    """What a file name says of the view beside its period: the datasets, owner, filters."""
    words = list(view.datasets[:3])
    if isinstance(view.owner, Owner) and view.owner_chosen:
        words.append(view.owner.id)
    if view.groups or view.domains:
        words.append("filtered")
    return words


def _scope(principal: Principal) -> Scope:
    scope = scope_of(principal)
    assert scope is not None  # the gate lets only tokens that read usage through
    return scope


async def _titles(ids: set[str]) -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    ordered = sorted(ids)
    # Bounded lists: a statement's parameters are limited (32 766 on SQLite).
    for start in range(0, len(ordered), 1000):
        rows = await reports.datasets_by_id(ordered[start : start + 1000])
        found.update({dataset_id: row.title for dataset_id, row in rows.items()})
    return found


def _download(body: bytes, media_type: str, file_name: str) -> Response:
    return Response(
        body,
        media_type=media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{file_name}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )
