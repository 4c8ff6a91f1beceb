"""GraphQL types of the public web-analytics setup (docs/webanalytics.md)."""

from __future__ import annotations

import strawberry

from app.schema.enums import AnalyticsProvider
from app.webanalytics import tracking


@strawberry.type(description="Matomo's settings, when the provider is MATOMO.")
class MatomoConfig:
    tracker_url: str = strawberry.field(
        description="The Matomo server's URL, ending with `/` (matomo.js and matomo.php are "
        "under it)."
    )
    site_id: str = strawberry.field(description="The portal's site id in Matomo.")
    cookieless: bool = strawberry.field(
        description="True: Matomo keeps no cookie on the visitor's device, and needs no consent."
    )


@strawberry.type(description="Google Analytics' settings, when the provider is GOOGLE_ANALYTICS.")
class GoogleAnalyticsConfig:
    measurement_id: str = strawberry.field(description="The GA4 measurement id, `G-...`.")


@strawberry.type(
    description="The web-analytics setup a portal's front end loads. Public: it needs no "
    "credentials, from any origin."
)
class AnalyticsConfig:
    provider: AnalyticsProvider = strawberry.field(description="The tool configured, or NONE.")
    matomo: MatomoConfig | None = strawberry.field(description="Matomo's settings, or null.")
    google_analytics: GoogleAnalyticsConfig | None = strawberry.field(
        description="Google Analytics' settings, or null."
    )
    requires_consent: bool = strawberry.field(
        description="True: load the tracker only after the visitor consents (cookies kept); "
        "tracker.js waits for `window.usageMetricsConsent(true)`."
    )
    script_url: str = strawberry.field(
        description="The URL of our tracker.js: one <script> tag that loads the provider."
    )
    csp_script_src: list[str] = strawberry.field(
        description="Sources the portal's Content-Security-Policy must allow in script-src."
    )
    csp_connect_src: list[str] = strawberry.field(
        description="Sources the portal's Content-Security-Policy must allow in connect-src."
    )
    csp_img_src: list[str] = strawberry.field(
        description="Sources the portal's Content-Security-Policy must allow in img-src: "
        "trackers fall back to an image when a beacon fails."
    )

    @classmethod
    def from_config(cls, config: tracking.AnalyticsConfig) -> AnalyticsConfig:
        matomo, google = config.matomo, config.google_analytics
        return cls(
            provider=AnalyticsProvider(config.provider),
            matomo=MatomoConfig(
                tracker_url=matomo.tracker_url, site_id=matomo.site_id, cookieless=matomo.cookieless
            )
            if matomo
            else None,
            google_analytics=GoogleAnalyticsConfig(measurement_id=google.measurement_id)
            if google
            else None,
            requires_consent=config.requires_consent,
            script_url=config.script_url,
            csp_script_src=list(config.csp_script_src),
            csp_connect_src=list(config.csp_connect_src),
            csp_img_src=list(config.csp_img_src),
        )
