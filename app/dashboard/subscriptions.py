"""/dashboard/subscriptions: an owner's reports and alerts (a small form, HTMX) and the last
deliveries; /unsubscribe/{token}: the link of every mail (docs/reports-and-alerts.md)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from app.auth.scope import Scope, scope_of
from app.auth.tokens import Principal
from app.config import Settings
from app.core.records import Owner
from app.dashboard.labels import translator
from app.dashboard.view import Lang, as_lang, preferred_language
from app.errors import BadUserInputError, UsageMetricsError
from app.notify import deliveries
from app.notify.deliveries import SendError
from app.notify.signing import unsubscribed_id
from app.notify.subscriptions import (
    LANGS,
    Channel,
    Thresholds,
    Wanted,
    check_owner,
    check_target,
    read_owner,
    subscribe,
    subscription,
    subscriptions,
    unsubscribe,
)
from app.notify.webhooks import check_address
from app.web.gate import SessionGate
from app.web.links import path_prefix
from app.web.session import PageSession
from app.web.templating import is_htmx, render

PART = "subscriptions"  # the element a form's answer replaces


def _lang(request: Request, form: dict[str, str] | None = None) -> Lang:
    chosen = as_lang((form or {}).get("page_lang") or request.query_params.get("lang"))
    return chosen or preferred_language(request.headers.get("accept-language"))


class SubscriptionPages:
    def __init__(self, settings: Settings, gate: SessionGate) -> None:
        self._settings = settings
        self._gate = gate

    def routes(self) -> list[BaseRoute]:
        gate = self._gate
        return [
            Route("/dashboard/subscriptions", gate.signed_in(self.page), methods=["GET"]),
            Route("/dashboard/subscriptions", gate.signed_in_form(self.add), methods=["POST"]),
            Route(
                "/dashboard/subscriptions/{id:int}/remove",
                gate.signed_in_form(self.remove),
                methods=["POST"],
            ),
            Route("/unsubscribe/{token}", self.confirm_unsubscribe, methods=["GET"]),
            Route("/unsubscribe/{token}", self.unsubscribe, methods=["POST"]),
        ]

    async def page(self, request: Request, session: PageSession, principal: Principal) -> Response:
        return await self._render(request, session, principal, _lang(request))

    async def add(
        self, request: Request, session: PageSession, principal: Principal, form: dict[str, str]
    ) -> Response:
        lang = _lang(request, form)
        scope = _scope(principal)
        try:
            owner = _owner(scope, form.get("owner", ""))
            check_owner(scope, owner)
            channel = Channel(form.get("channel", "email"))
            target = check_target(channel, form.get("target", ""))
            if channel is Channel.WEBHOOK:
                await check_address(target, self._settings.webhook_allow_private)
            wanted = Wanted(
                weekly=form.get("weekly") == "on",
                monthly=form.get("monthly") == "on",
                alerts=form.get("alerts") == "on",
                lang=form.get("lang", lang) if form.get("lang") in LANGS else lang,
            )
            limits = _thresholds(form)
            found, made = await subscribe(owner, channel, target, wanted, self._today(), limits)
        except (UsageMetricsError, SendError, ValueError) as exc:
            message = exc.message if isinstance(exc, UsageMetricsError | SendError) else str(exc)
            status = exc.status_code if isinstance(exc, UsageMetricsError) else 400
            return await self._render(
                request, session, principal, lang, error=message, status=status, form=form
            )
        t = translator(lang)
        notice = t("subscribed")
        if made and channel is Channel.WEBHOOK:
            notice += " " + t("webhook_secret", secret=found.secret)
        return await self._render(request, session, principal, lang, notice=notice)

    async def remove(
        self, request: Request, session: PageSession, principal: Principal, form: dict[str, str]
    ) -> Response:
        lang = _lang(request, form)
        found = await subscription(request.path_params["id"])
        scope = _scope(principal)
        if found is None or not _sees(scope, found.owner):
            # Another owner's subscription is as absent as one that does not exist.
            message = translator(lang)("unsubscribe_unknown")
            return await self._render(request, session, principal, lang, error=message, status=404)
        await unsubscribe(found.id)
        return await self._render(
            request, session, principal, lang, notice=translator(lang)("unsubscribed")
        )

    async def confirm_unsubscribe(self, request: Request) -> Response:
        return await self._unsubscribe_page(request, done=False)

    async def unsubscribe(self, request: Request) -> Response:
        # One click (RFC 8058): the mail client posts `List-Unsubscribe=One-Click`, a browser
        # the confirm form; the signed token is the only credential either needs, the body
        # says nothing more.
        return await self._unsubscribe_page(request, done=True)

    async def _unsubscribe_page(self, request: Request, done: bool) -> Response:
        lang = _lang(request)
        subscription_id = unsubscribed_id(self._settings.secret_key, request.path_params["token"])
        known = subscription_id is not None and await subscription(subscription_id) is not None
        if done and subscription_id is not None and known:
            await unsubscribe(subscription_id)
        state = "unsubscribed" if done and known else "confirm" if known else "unknown"
        context = {
            "t": translator(lang),
            "lang": lang,
            "prefix": path_prefix(request, self._settings),
            "csrf_token": "",
            "signed_in": False,
            "state": state,
            "action": request.url.path,
        }
        return render(
            request,
            "dashboard/unsubscribe.html",
            context,
            status_code=200 if known else 404,
        )

    async def _render(
        self,
        request: Request,
        session: PageSession,
        principal: Principal,
        lang: Lang,
        *,
        notice: str = "",
        error: str = "",
        status: int = 200,
        form: dict[str, str] | None = None,
    ) -> Response:
        scope = _scope(principal)
        found = await subscriptions(scope)
        sent = await deliveries.recent([s.id for s in found])
        context: dict[str, Any] = {
            "t": translator(lang),
            "lang": lang,
            "prefix": path_prefix(request, self._settings),
            "csrf_token": session.csrf_token,
            "signed_in": session.is_signed_in,
            "is_admin": scope.is_every_owner,
            "owners": scope.owners,
            "subscriptions": found,
            "deliveries": sent,
            "kinds_of": {s.id: [k.value for k in s.wanted.kinds()] for s in found},
            "notice": notice,
            "error": error,
            "form": form or {},
        }
        if is_htmx(request):
            # htmx swaps a 422 in (app/web/templating.py): an error shows in the form's place.
            code = 422 if status >= 400 else status
            return render(request, "dashboard/_subscriptions.html", context, status_code=code)
        return render(request, "dashboard/subscriptions.html", context, status_code=status)

    def _today(self) -> date:
        return self._settings.today or datetime.now(self._settings.timezone).date()


def _scope(principal: Principal) -> Scope:
    scope = scope_of(principal)
    assert scope is not None  # the gate lets only tokens that read usage through
    return scope


def _owner(scope: Scope, text: str) -> Owner | None:
    """The owner a form names: `all` (admins), `type:id`, or nothing for one's only owner."""
    text = text.strip()
    if text == "all":
        return None
    if text:
        return read_owner(text)
    if scope.owners is not None and len(scope.owners) == 1:
        return scope.owners[0]
    raise BadUserInputError("name the owner as user:<id> or organization:<id> (or all)")


def _thresholds(form: dict[str, str]) -> Thresholds:
    """The form's thresholds, in percent where a reader thinks in percent; defaults if absent."""
    defaults = Thresholds()
    try:
        drop = float(form.get("drop") or defaults.drop_share * 100) / 100
        spike = float(form.get("spike") or defaults.spike_factor)
        errors = float(form.get("errors") or defaults.error_share * 100) / 100
        floor = int(form.get("floor") or defaults.floor)
    except ValueError:
        raise BadUserInputError("the thresholds are numbers (60, 5, 5, 100)") from None
    return Thresholds(drop, spike, errors, floor)


def _sees(scope: Scope, owner: Owner | None) -> bool:
    if owner is None:
        return scope.is_every_owner
    return scope.can_see(owner)
