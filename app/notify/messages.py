"""A report or a day's alerts written out: plain text, HTML and JSON, in English or French."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from typing import Any

from app.core.records import Owner
from app.notify.alerts import Alert, AlertKind
from app.notify.reports import DatasetLine, Report
from app.reports import Trend

_WORDS: dict[str, dict[str, str]] = {
    "en": {
        "weekly": "Weekly report",
        "monthly": "Monthly report",
        "alerts": "Alerts",
        "every_owner": "every owner",
        "api_calls": "API calls",
        "downloads": "Downloads",
        "app_opens": "Application opens",
        "consumers": "Distinct consumers",
        "previous": "previous period",
        "top": "Top datasets",
        "risers": "Biggest risers",
        "fallers": "Biggest fallers",
        "new": "new",
        "dashboard": "The same view on the dashboard",
        "unsubscribe": "Unsubscribe (this address only)",
        "drop": "fell to {value} against {baseline} usually",
        "spike": "leapt to {value} against {baseline} usually",
        "server_errors": "{value} server errors out of {baseline} requests",
        "requests": "requests",
        "none": "No usage in this period.",
        ":": ": ",
    },
    "fr": {
        "weekly": "Rapport de la semaine",
        "monthly": "Rapport du mois",
        "alerts": "Alertes",
        "every_owner": "tous les propriétaires",
        "api_calls": "Appels d'API",
        "downloads": "Téléchargements",
        "app_opens": "Ouvertures d'applications",
        "consumers": "Consommateurs distincts",
        "previous": "période précédente",
        "top": "Jeux de données les plus utilisés",
        "risers": "Plus fortes hausses",
        "fallers": "Plus fortes baisses",
        "new": "nouveau",
        "dashboard": "La même vue dans le tableau de bord",
        "unsubscribe": "Se désabonner (cette adresse seulement)",
        "drop": "tombé à {value} contre {baseline} d'habitude",
        "spike": "monté à {value} contre {baseline} d'habitude",
        "server_errors": "{value} erreurs serveur sur {baseline} requêtes",
        "requests": "requêtes",
        "none": "Aucun usage sur cette période.",
        ":": " : ",  # French typography: a (narrow) space before the colon
    },
}


@dataclass(frozen=True)
class Message:
    subject: str
    text: str
    html: str
    data: dict[str, Any]  # the webhook's JSON body


def number(value: float, lang: str) -> str:
    text = f"{round(value):,}"
    return text.replace(",", "\u202f") if lang == "fr" else text


def change(trend: Trend, lang: str) -> str:
    """ "+25 %", "−10 %", "new" (nothing before), "0 %"."""
    if trend.previous == 0:
        return _WORDS[lang]["new"] if trend.current else "0 %"
    percent = round((trend.current - trend.previous) * 100 / trend.previous)
    sign = "+" if percent > 0 else "−" if percent < 0 else ""
    return f"{sign}{abs(percent)} %"


def _whose(owner: Owner | None, lang: str) -> str:
    return _WORDS[lang]["every_owner"] if owner is None else f"{owner.type}:{owner.id}"


_FIGURES = ("api_calls", "downloads", "app_opens")


def report_message(report: Report, lang: str, unsubscribe: str | None) -> Message:
    w = _WORDS[lang]
    period = f"{report.period.start.isoformat()} – {report.period.end.isoformat()}"
    subject = f"{w[report.kind.value]} {period} ({_whose(report.owner, lang)})"
    colon = w[":"]
    figures = [(w[name], getattr(report.totals, name)) for name in _FIGURES]
    text = [subject, ""]
    text += [
        f"{label}{colon}{number(t.current, lang)} ({change(t, lang)}, {w['previous']} "
        f"{number(t.previous, lang)})"
        for label, t in figures
    ]
    html = [f"<h1>{escape(subject)}</h1>", "<table>"]
    html += [
        f"<tr><th>{escape(label)}</th><td>{number(t.current, lang)}</td>"
        f"<td>{change(t, lang)}</td><td>{number(t.previous, lang)}</td></tr>"
        for label, t in figures
    ]
    if report.consumers is not None:
        shown, change_text, before = _consumer_cells(report, lang)
        changed = f"{change_text}, " if change_text else ""
        text.append(f"{w['consumers']}{colon}{shown} ({changed}{w['previous']} {before})")
        html.append(
            f"<tr><th>{escape(w['consumers'])}</th><td>{escape(shown)}</td>"
            f"<td>{change_text}</td><td>{escape(before)}</td></tr>"
        )
    html.append("</table>")
    if not report.top:
        text += ["", w["none"]]
        html.append(f"<p>{escape(w['none'])}</p>")
    for key, lines in _lists(report):
        if lines:
            text += ["", w[key]] + [f"- {_dataset_text(line, lang)}" for line in lines]
            html.append(f"<h2>{escape(w[key])}</h2><ul>")
            html += [f"<li>{escape(_dataset_text(line, lang))}</li>" for line in lines]
            html.append("</ul>")
    _links(text, html, w, report.link, unsubscribe)
    return Message(subject, "\n".join(text) + "\n", "\n".join(html), _report_data(report))


def _consumer_cells(report: Report, lang: str) -> tuple[str, str, str]:
    """The consumers now, their change and the previous count; "< N" under the minimum, as the
    dashboard shows them, and no change beside a hidden count."""
    assert report.consumers is not None
    now, before = report.consumers.current, report.consumers.previous

    def count(value: int | None) -> str:
        return f"< {report.consumers_min}" if value is None else number(value, lang)

    if now is None or before is None:
        return count(now), "", count(before)
    return count(now), change(Trend(now, before), lang), count(before)


def _lists(report: Report) -> tuple[tuple[str, tuple[DatasetLine, ...]], ...]:
    return (("top", report.top), ("risers", report.risers), ("fallers", report.fallers))


def _report_data(report: Report) -> dict[str, Any]:
    """A report as a webhook's JSON."""
    return {
        "type": "report",
        "kind": report.kind.value,
        "owner": None if report.owner is None else report.owner._asdict(),
        "period": {"start": report.period.start.isoformat(), "end": report.period.end.isoformat()},
        "figures": {name: getattr(report.totals, name)._asdict() for name in _FIGURES},
        # null: not counted (too many sketches); a count null: under the minimum shown
        "consumers": None
        if report.consumers is None
        else {"current": report.consumers.current, "previous": report.consumers.previous},
        **{key: [_dataset_data(line) for line in lines] for key, lines in _lists(report)},
        "dashboard": report.link,
    }


def alerts_message(
    alerts: list[Alert],
    owner: Owner | None,
    lang: str,
    titles: dict[str, str | None],
    unsubscribe: str | None,
) -> Message:
    w = _WORDS[lang]
    day = alerts[0].day.isoformat()
    subject = f"{w['alerts']} {day} ({_whose(owner, lang)}): {len(alerts)}"
    lines = [_alert_text(alert, lang, titles.get(alert.dataset_id)) for alert in alerts]
    text = [subject, "", *(f"- {line}" for line in lines)]
    html = [f"<h1>{escape(subject)}</h1><ul>", *(f"<li>{escape(li)}</li>" for li in lines), "</ul>"]
    _links(text, html, w, None, unsubscribe)
    data = {
        "type": "alerts",
        "day": day,
        "owner": None if owner is None else owner._asdict(),
        "alerts": [
            {
                "owner": alert.owner._asdict(),
                "dataset": alert.dataset_id,
                "kind": alert.kind.value,
                "metric": alert.metric,
                "value": alert.value,
                "baseline": alert.baseline,
            }
            for alert in alerts
        ],
    }
    return Message(subject, "\n".join(text) + "\n", "\n".join(html), data)


def _alert_text(alert: Alert, lang: str, title: str | None) -> str:
    w = _WORDS[lang]
    name = f"{title} ({alert.dataset_id})" if title else alert.dataset_id
    said = w[alert.kind.value].format(
        value=number(alert.value, lang), baseline=number(alert.baseline, lang)
    )
    if alert.kind is AlertKind.SERVER_ERRORS:
        return f"{name}{w[':']}{said}"
    return f"{name}{w[':']}{w[alert.metric]} {said}"


def _dataset_text(line: DatasetLine, lang: str) -> str:
    name = f"{line.title} ({line.id})" if line.title else line.id
    now, before = line.uses
    return f"{name}{_WORDS[lang][':']}{number(now, lang)} ({change(Trend(now, before), lang)})"


def _dataset_data(line: DatasetLine) -> dict[str, Any]:
    f = line.figures
    return {
        "id": line.id,
        "title": line.title,
        "api_calls": f.api_calls._asdict(),
        "downloads": f.downloads._asdict(),
    }


def _links(
    text: list[str], html: list[str], w: dict[str, str], link: str | None, unsubscribe: str | None
) -> None:
    if link is not None:
        text += ["", f"{w['dashboard']}{w[':']}{link}"]
        html.append(f'<p><a href="{escape(link)}">{escape(w["dashboard"])}</a></p>')
    if unsubscribe is not None:
        text += ["", f"{w['unsubscribe']}{w[':']}{unsubscribe}"]
        html.append(f'<p><a href="{escape(unsubscribe)}">{escape(w["unsubscribe"])}</a></p>')
