"""The words of Data Fair's XLSX export, in French (its default) and English."""

from __future__ import annotations

from typing import Literal

Lang = Literal["fr", "en"]
# Data Fair's five columns; robots (ours) are added to the breakdown by user category only.
EXPORT_CLASSES = ("owner", "external", "anonymous", "ownerAPIKey", "externalAPIKey")
FILE_CLASSES = ("owner", "external", "anonymous")

LABELS: dict[Lang, dict[str, str]] = {
    "fr": {
        "global": "Global",
        "history": "Historique",
        "datasets": "Jeux de données",
        "topicsApi": "Appels d'API par thématiques",
        "originsApi": "Appels d'API par domaines",
        "topicsFiles": "Téléchargements par thématiques",
        "originsFiles": "Téléchargements par domaines",
        "apps": "Affichages d'applications",
        "date": "Date",
        "id": "Identifiant",
        "title": "Titre",
        "topic": "Thématique",
        "origin": "Domaine",
        "totalApiCalls": "Appels API / total",
        "totalDownloads": "Téléchargements / total",
        "apiCallsBy": "Appels d'API / {}",
        "downloadsBy": "Téléchargements / {}",
        "allUsers": "Tous les utilisateurs",
        "periodRange": "Du {} au {}",
        "currentPeriod": "Période actuelle",
        "previousPeriod": "Période précédente",
        "variation": "Variation",
        "apiCalls": "Appels d'API",
        "fileDownloads": "Fichiers téléchargés",
        "appViews": "Affichages d'applications",
        "userClassBreakdown": "Répartition par catégories d'utilisateurs",
        "userClassDefinitionsTitle": "Définition des catégories d'utilisateurs",
        "class.anonymous": "Utilisateurs anonymes",
        "class.owner": "Utilisateurs membres",
        "class.external": "Utilisateurs externes",
        "class.ownerAPIKey": "Clés d'API membres",
        "class.externalAPIKey": "Clés d'API externes",
        "class.bot": "Robots",
        "definition.anonymous": "Visiteurs non connectés. Ils consultent les données sans "
        "s'identifier.",
        "definition.owner.user": "Vous.",
        "definition.owner.organization": "Membre de votre organisation.",
        "definition.external": "Personne connectée via un compte personnel ou une organisation "
        "différente de la vôtre.",
        "definition.ownerAPIKey.user": "Clé d'API appartenant à votre compte.",
        "definition.ownerAPIKey.organization": "Clé d'API appartenant à votre organisation.",
        "definition.externalAPIKey": "Clé d'API appartenant à un compte personnel ou une "
        "organisation différente de la vôtre.",
        "definition.bot": "Robots d'indexation et autres programmes reconnus à leur agent "
        "utilisateur ; comptés à part.",
        "unknown": "Inconnu",
    },
    "en": {
        "global": "Global",
        "history": "History",
        "datasets": "Datasets",
        "topicsApi": "API calls by topic",
        "originsApi": "API calls by domain",
        "topicsFiles": "Downloads by topic",
        "originsFiles": "Downloads by domain",
        "apps": "Application views",
        "date": "Date",
        "id": "Identifier",
        "title": "Title",
        "topic": "Topic",
        "origin": "Domain",
        "totalApiCalls": "API calls / total",
        "totalDownloads": "Downloads / total",
        "apiCallsBy": "API calls / {}",
        "downloadsBy": "Downloads / {}",
        "allUsers": "All users",
        "periodRange": "From {} to {}",
        "currentPeriod": "Current period",
        "previousPeriod": "Previous period",
        "variation": "Change",
        "apiCalls": "API calls",
        "fileDownloads": "Files downloaded",
        "appViews": "Application views",
        "userClassBreakdown": "Breakdown by user category",
        "userClassDefinitionsTitle": "User category definitions",
        "class.anonymous": "Anonymous users",
        "class.owner": "Members",
        "class.external": "External users",
        "class.ownerAPIKey": "Member API keys",
        "class.externalAPIKey": "External API keys",
        "class.bot": "Robots",
        "definition.anonymous": "Visitors who are not signed in. They access data without "
        "identifying themselves.",
        "definition.owner.user": "You.",
        "definition.owner.organization": "A member of your organization.",
        "definition.external": "Someone signed in through a personal account or an "
        "organization different from yours.",
        "definition.ownerAPIKey.user": "API key belonging to your account.",
        "definition.ownerAPIKey.organization": "API key belonging to your organization.",
        "definition.externalAPIKey": "API key belonging to a personal account or an "
        "organization different from yours.",
        "definition.bot": "Crawlers and other programs recognised by their user agent; "
        "counted apart.",
        "unknown": "Unknown",
    },
}


def export_lang(accept_language: str | None) -> Lang:
    """English when the caller prefers it, else French (Data Fair's default)."""
    first = (accept_language or "").split(",")[0].strip().lower()
    return "en" if first.startswith("en") else "fr"
