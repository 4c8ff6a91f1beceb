"""The closed value sets of the schema, each value described for a front-end developer."""

from __future__ import annotations

from enum import Enum

import strawberry

from app import reports
from app.core.intervals import Interval as StoredInterval
from app.core.records import UserGroup as StoredUserGroup
from app.webanalytics import tracking

value = strawberry.enum_value


def raw(member: Enum) -> str:
    """A member's value: what the read side stores and takes (mypy sees enum_value's wrapper)."""
    return str(member.value)


@strawberry.enum(
    description="Who made a request, decided per request line by the first rule that applies, "
    "in this order: BOT, then an API key (OWNER_API_KEY, EXTERNAL_API_KEY), then a portal "
    "session (OWNER, EXTERNAL), else ANONYMOUS (docs/classification.md)."
)
class UserGroup(Enum):
    OWNER = value(
        StoredUserGroup.OWNER.value,
        description="Signed in to the portal as the dataset's owner: the user who owns it, or "
        "a member of the organization that owns it.",
    )
    OWNER_API_KEY = value(
        StoredUserGroup.OWNER_API_KEY.value,
        description="With an API key of the dataset's owner (a script or service of theirs).",
    )
    EXTERNAL = value(
        StoredUserGroup.EXTERNAL.value,
        description="Signed in to the portal as someone else than the dataset's owner.",
    )
    EXTERNAL_API_KEY = value(
        StoredUserGroup.EXTERNAL_API_KEY.value,
        description="With an API key of another account than the dataset's owner.",
    )
    ANONYMOUS = value(
        StoredUserGroup.ANONYMOUS.value,
        description="Neither signed in nor with an API key, and not a robot.",
    )
    BOT = value(
        StoredUserGroup.BOT.value,
        description="A robot, by its user agent: search-engine and AI crawlers, SEO tools, "
        "monitors. HTTP libraries and command-line clients (curl, python-requests) are not "
        "robots: they count in the other groups.",
    )


@strawberry.enum(description="What `Usage.breakdown` splits usage by.")
class Breakdown(Enum):
    # The values are the usage_daily columns grouped on.
    USER_GROUP = value(
        "user_group",
        description="By user group: `UsageGroup.userGroup` holds the group, `key` its name.",
    )
    DOMAIN = value(
        "referer_domain",
        description="By calling domain, the host name of the Referer (else Origin) header, "
        "lower case, internationalised names readable (`café.example`): `key` holds it. "
        "Special keys: `none` (neither header), "
        "`invalid` (no host name in it), `ip` (an IP address where the host name belongs: "
        "counted, never kept), `other` (past the daily cap of distinct domains per "
        "dataset, USAGE_METRICS_MAX_DOMAINS_PER_DAY).",
    )
    CATEGORY = value(
        "referer_category",
        description="By the kind of page that called: `UsageGroup.category` holds it, `key` "
        "its name.",
    )


@strawberry.enum(
    description="The kind of page a request came from, read from its Referer (else Origin)."
)
class RefererCategory(Enum):
    PORTAL = value("portal", description="A page of the portal itself, on the portal's host.")
    BACKOFFICE = value(
        "backoffice", description="The portal's back office (its /data-fair/ pages)."
    )
    APP = value("app", description="An application of the portal (/data-fair/app/...).")
    EMBED = value("embed", description="An embedded view of the portal (/data-fair/embed...).")
    MCP = value("mcp", description="The portal's MCP server (/mcp), used by AI assistants.")
    EXTERNAL = value("external", description="A page on another site than the portal.")
    NONE = value("none", description="No Referer nor Origin: a script, a direct link.")
    INVALID = value("invalid", description="A Referer with no host name we can read.")
    IP = value(
        "ip",
        description="A page on another site reached by its IP address "
        "(`http://198.51.100.23/`): the address is not kept, its calling domain is `ip`.",
    )
    OTHER = value(
        "other",
        description="Imported from Data Fair's history: a page Data Fair did not tell apart — "
        "another site or the portal's own.",
    )


@strawberry.enum(description="What `datasets` are ordered by; ties go by title, then id.")
class DatasetOrder(Enum):
    TITLE = value(
        reports.DatasetOrder.TITLE,
        description="By title (the id when there is none), French accents and case ignored: "
        "`é` sorts with `e`. Ascending by default.",
    )
    API_CALLS = value(
        reports.DatasetOrder.API_CALLS,
        description="By API calls in `period` (which it needs). Most-used first by default.",
    )
    DOWNLOADS = value(
        reports.DatasetOrder.DOWNLOADS,
        description="By downloads in `period` (which it needs). Most-used first by default.",
    )


@strawberry.enum(description="How `Usage.series` cuts the period.")
class Interval(Enum):
    DAY = value(StoredInterval.DAY.value, description="Each day.")
    WEEK = value(
        StoredInterval.WEEK.value,
        description="ISO 8601 weeks, Monday to Sunday; a period that does not start on a "
        "Monday or end on a Sunday makes its first or last week partial.",
    )
    MONTH = value(
        StoredInterval.MONTH.value,
        description="Calendar months; a period that does not start on the 1st or end on the "
        "month's last day makes its first or last month partial.",
    )


@strawberry.enum(description="A direction of order.")
class OrderDirection(Enum):
    ASC = value("asc", description="Smallest (or A) first.")
    DESC = value("desc", description="Largest (or Z) first.")


@strawberry.enum(description="The kind of account that owns datasets in the portal.")
class OwnerType(Enum):
    USER = value("user", description="A person's account.")
    ORGANIZATION = value("organization", description="An organization's account.")


@strawberry.enum(description="Which web-analytics tool the portal's pages load.")
class AnalyticsProvider(Enum):
    NONE = value(tracking.AnalyticsProvider.NONE, description="None: load no tracker.")
    MATOMO = value(
        tracking.AnalyticsProvider.MATOMO,
        description="Matomo, with the settings in `AnalyticsConfig.matomo`.",
    )
    GOOGLE_ANALYTICS = value(
        tracking.AnalyticsProvider.GOOGLE_ANALYTICS,
        description="Google Analytics 4, with the settings in `AnalyticsConfig.googleAnalytics`; "
        "it always needs the visitor's consent.",
    )
