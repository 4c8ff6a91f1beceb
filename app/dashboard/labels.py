"""The dashboard's words in English and French: one catalogue, looked up by key in templates."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from app.dashboard.view import Lang

_EN: dict[str, str] = {
    "dashboard": "Usage dashboard",
    "sign_in": "Sign in",
    "sign_in_intro": (
        "Paste your token: an owner token shows your datasets, an admin token every owner's."
    ),
    "token": "Token",
    "sign_in_failed": "This token does not open the dashboard.",
    "sign_in_throttled": "Too many failed sign-ins from your address: try again in {seconds} s.",
    "portal_session_refused": (
        "Your portal session cannot open the dashboard: it has expired, or its active account "
        "(a department, or an organisation you do not administer) has no usage figures for "
        "you. Sign in to the portal again, switch account, or sign in with a token."
    ),
    "sign_out": "Sign out",
    "sign_out_confirm": "Sign out of the dashboard",
    "language": "Language",
    "period": "Period",
    "preset_7d": "Last 7 days",
    "preset_30d": "Last 30 days",
    "preset_last-month": "Previous month",
    "preset_12m": "Last 12 months",
    "custom": "Custom",
    "start": "Start",
    "end": "End",
    "apply": "Apply",
    "compared_with": "compared with {start} → {end}",
    "owner": "Owner",
    "every_owner": "Every owner",
    "find_owner": "Find an owner",
    "find": "Find",
    "owners_listed": "The first {shown} of {total} owners by name: find the others by name or id.",
    "owners_found": "Matching “{search}”: {n} of {total} owners.",
    "owners_found_many": (
        "Matching “{search}”: {n} of {total} owners, the first {shown} listed: "
        "find a longer part of the name."
    ),
    "owners_none": "No owner's name or id holds “{search}”.",
    "domains_suggested": (
        "The {shown} most used of {total} calling domains are suggested; type any other."
    ),
    "filters": "Filters",
    "user_groups": "User groups",
    "domains": "Calling domains",
    "datasets": "Datasets",
    "add_domain": "Add a calling domain",
    "add_dataset": "Add a dataset (id)",
    "add": "Add",
    "remove_filter": "Remove filter {value}",
    "clear_filters": "Clear filters",
    "no_filter": "No filter: every request counts.",
    "key_figures": "Key figures",
    "api_calls": "API calls",
    "consumers": "Consumers",
    "downloads": "Downloads",
    "downloaded_bytes": "Downloaded volume",
    "app_opens": "Application opens",
    "previous": "previous period: {value}",
    "previous_year": "a year before: {value}",
    "current_period": "This period",
    "previous_period": "Previous period",
    "as_table": "Figures as a table",
    "day": "Day",
    "by_user_group": "API calls and downloads by user group",
    "by_domain": "API calls and downloads by calling domain",
    "by_category": "API calls and downloads by consumer category",
    "others": "{n} others",
    "nothing": "Nothing in this period.",
    "top_datasets": "Datasets",
    "title": "Title",
    "change": "Change",
    "sort_by": "Sort by {column}",
    "sort_reverse": "Reverse the order by {column}",
    "sorted": "sorted",
    "page_of": "Page {page} of {pages}",
    "previous_page": "Previous page",
    "next_page": "Next page",
    "no_datasets": "No dataset matches this view.",
    "back": "All datasets",
    "export": "Export",
    "export_csv": "CSV (datasets × user groups × domains)",
    "export_xlsx": "Excel workbook",
    "empty_title": "No usage yet",
    "empty_intro": (
        "Nothing has been counted yet. Point the reverse proxy's log shipper at POST /ingest, "
        "or send a first batch by hand:"
    ),
    "empty_then": "Then reload this page.",
    "bad_view": "This view cannot be shown",
    "no_such_dataset": "No such dataset among those you may see.",
    "reset_view": "Back to the last 7 days",
    "unknown_title": "(no title)",
    "no_domain": "(no referer)",
    # user groups (stored keys)
    "group_OWNER": "Owner organisation members",
    "group_OWNER_API_KEY": "Owner API keys",
    "group_EXTERNAL": "Other signed-in users",
    "group_EXTERNAL_API_KEY": "Other API keys",
    "group_ANONYMOUS": "Anonymous",
    "group_BOT": "Robots",
    # consumer categories (stored keys)
    "category_backoffice": "Back-office",
    "category_portal": "Portal",
    "category_embed": "Embedded views",
    "category_app": "Applications",
    "category_mcp": "MCP",
    "category_external": "External sites",
    "category_none": "No referer",
    "category_invalid": "Unreadable referer",
    "category_ip": "Sites reached by IP address",
    "category_other": "Other pages (Data Fair's history)",
    "invalid_domain": "(unreadable referer)",
    "ip_domain": "(IP address)",
    # issue 17: the layout of figures first, comparisons, intervals, breakdown tables
    "account": "Account",
    "web_analytics": "Web analytics",
    "loading": "Loading…",
    "empty_owner_intro": (
        "No usage has been counted for your datasets yet. The portal's operator sends the "
        "reverse proxy's access logs to this service; figures appear here shortly after the "
        "first requests to your datasets."
    ),
    "empty_owner_then": (
        "If your datasets have been used and nothing shows after an hour, ask the portal's "
        "operator whether the log shipper is running."
    ),
    "dataset_id": "Identifier",
    "portal": "Portal",
    "open_on_portal": "Open the dataset on the portal",
    "compare": "Compare with",
    "compare_previous": "Previous period",
    "compare_year": "Same period a year before",
    "compare_none": "No comparison",
    "compared_with_year": "compared with the same days a year before, {start} → {end}",
    "no_comparison": "no comparison",
    "custom_period": "Custom dates",
    "chip_group": "User group",
    "chip_domain": "Calling domain",
    "chip_dataset": "Dataset",
    "add_filter": "+ Filter",
    "filter_on": "Filter on {value}",
    "empty_period": "No usage in this period",
    "empty_period_hint": (
        "None of the requests counted for this view falls in these days: choose a longer "
        "period, or remove a filter."
    ),
    "interval": "Interval",
    "interval_day": "Day",
    "interval_week": "Week",
    "interval_month": "Month",
    "too_many_bars": "{bars} bars: more than a chart draws ({most})",
    "chart_api_calls_day": "API calls per day",
    "chart_api_calls_week": "API calls per week",
    "chart_api_calls_month": "API calls per month",
    "chart_downloads_day": "Downloads per day",
    "chart_downloads_week": "Downloads per week",
    "chart_downloads_month": "Downloads per month",
    "chart_help": (
        "Use the left and right arrow keys, or touch a bar, to read each interval's figures."
    ),
    "compared_interval": "Compared with",
    "compared_period": "Compared period",
    "name": "Name",
    "current_short": "Now",
    "previous_short": "Before",
    "share": "Share",
    "trend_api_calls": "Trend of API calls over the period",
    "trend_consumers": "Trend of distinct consumers over the period",
    "trend_downloads": "Trend of downloads over the period",
    "owner_user": "{name} (user)",
    "owner_organization": "{name} (organisation)",
    # issue 23: today in every view, partial; how fresh the figures are
    "preset_today": "Today",
    "partial_day": "today, partial",
    "partial_week": "this week, partial",
    "partial_month": "this month, partial",
    "partial_note_day": (
        "Today ({day}, {zone}) is still being counted: its hatched bar grows until midnight."
    ),
    "partial_note_week": (
        "This week holds today ({day}, {zone}), still being counted: its hatched bar grows "
        "until the week ends."
    ),
    "partial_note_month": (
        "This month holds today ({day}, {zone}), still being counted: its hatched bar grows "
        "until the month ends."
    ),
    "updated_now": "Up to date: every batch received is counted.",
    "updated_waiting": "Updated {age} ago; still to count: {batches} ({lines}).",
    "updated_behind": "Updated {age} ago: batches received since are not counted yet.",
    "batches_one": "{n} batch",
    "batches_many": "{n} batches",
    "lines_one": "{n} line",
    "lines_many": "{n} lines",
    "subscriptions": "Reports and alerts",
    "subscriptions_intro": (
        "Weekly reports (on Mondays, for the week before), monthly reports (on the 1st, for "
        "the month before) and alerts when a dataset's use drops, leaps or fails, by e-mail or "
        "webhook. Every mail has a link that ends its subscription."
    ),
    "subscribe": "Subscribe",
    "subscription_owner": "Whose datasets",
    "subscription_channel": "Send to",
    "channel_email": "E-mail address",
    "channel_webhook": "Webhook URL",
    "subscription_target": "Address or URL",
    "report_weekly": "Weekly report",
    "report_monthly": "Monthly report",
    "report_alerts": "Alerts",
    "subscription_lang": "Language of the messages",
    "threshold_drop": "Alert when a day's use falls by (%)",
    "threshold_spike": "or leaps to (× the usual)",
    "threshold_errors": "or server errors pass (% of requests)",
    "threshold_floor": "for datasets usually used at least (a day)",
    "subscribed": "Subscribed.",
    "webhook_secret": "The webhook's signing secret, shown this once: {secret}",
    "no_subscriptions": "No subscription yet.",
    "unsubscribe": "Unsubscribe",
    "unsubscribe_confirm": "End this subscription to usage reports and alerts?",
    "unsubscribed": "The subscription is ended: nothing more will be sent to it.",
    "unsubscribe_unknown": "This link ends no subscription (it was ended already, or is wrong).",
    "deliveries": "Last deliveries",
    "no_deliveries": "Nothing sent yet.",
    "delivery_when": "When",
    "delivery_what": "What",
    "delivery_result": "Result",
    "delivery_ok": "ok",
    "delivery_sending": "sending",
    "delivery_failed": "error: {error}",
}

_FR: dict[str, str] = {
    "dashboard": "Tableau de bord d'usage",
    "sign_in": "Se connecter",
    "sign_in_intro": (
        "Collez votre jeton : un jeton de propriétaire montre vos jeux de données, "
        "un jeton d'administration ceux de tous les propriétaires."
    ),
    "token": "Jeton",
    "sign_in_failed": "Ce jeton n'ouvre pas le tableau de bord.",
    "sign_in_throttled": (
        "Trop d'échecs de connexion depuis votre adresse : réessayez dans {seconds} s."
    ),
    "portal_session_refused": (
        "Votre session du portail n'ouvre pas le tableau de bord : elle a expiré, ou son compte "
        "actif (un département, ou une organisation dont vous n'êtes pas administrateur) ne "
        "vous donne pas accès aux chiffres d'usage. Reconnectez-vous au portail, changez de "
        "compte, ou connectez-vous avec un jeton."
    ),
    "sign_out": "Se déconnecter",
    "sign_out_confirm": "Se déconnecter du tableau de bord",
    "language": "Langue",
    "period": "Période",
    "preset_7d": "7 derniers jours",
    "preset_30d": "30 derniers jours",
    "preset_last-month": "Mois précédent",
    "preset_12m": "12 derniers mois",
    "custom": "Personnalisée",
    "start": "Début",
    "end": "Fin",
    "apply": "Appliquer",
    "compared_with": "comparé avec {start} → {end}",
    "owner": "Propriétaire",
    "every_owner": "Tous les propriétaires",
    "find_owner": "Chercher un propriétaire",
    "find": "Chercher",
    "owners_listed": (
        "Les {shown} premiers des {total} propriétaires par nom : cherchez les autres par nom "
        "ou identifiant."
    ),
    "owners_found": "Correspondant à « {search} » : {n} des {total} propriétaires.",
    "owners_found_many": (
        "Correspondant à « {search} » : {n} des {total} propriétaires, les {shown} premiers "
        "listés : cherchez une plus longue partie du nom."
    ),
    "owners_none": "Aucun propriétaire n'a « {search} » dans son nom ou son identifiant.",
    "domains_suggested": (
        "Les {shown} plus utilisés des {total} domaines appelants sont suggérés ; tapez-en un "
        "autre au besoin."
    ),
    "filters": "Filtres",
    "user_groups": "Groupes d'utilisateurs",
    "domains": "Domaines appelants",
    "datasets": "Jeux de données",
    "add_domain": "Ajouter un domaine appelant",
    "add_dataset": "Ajouter un jeu de données (identifiant)",
    "add": "Ajouter",
    "remove_filter": "Retirer le filtre {value}",
    "clear_filters": "Effacer les filtres",
    "no_filter": "Aucun filtre : toutes les requêtes comptent.",
    "key_figures": "Chiffres clés",
    "api_calls": "Appels API",
    "consumers": "Consommateurs",
    "downloads": "Téléchargements",
    "downloaded_bytes": "Volume téléchargé",
    "app_opens": "Ouvertures d'applications",
    "previous": "période précédente : {value}",
    "previous_year": "un an avant : {value}",
    "current_period": "Cette période",
    "previous_period": "Période précédente",
    "as_table": "Chiffres en tableau",
    "day": "Jour",
    "by_user_group": "Appels API et téléchargements par groupe d'utilisateurs",
    "by_domain": "Appels API et téléchargements par domaine appelant",
    "by_category": "Appels API et téléchargements par catégorie de consommateur",
    "others": "{n} autres",
    "nothing": "Rien sur cette période.",
    "top_datasets": "Jeux de données",
    "title": "Titre",
    "change": "Évolution",
    "sort_by": "Trier par {column}",
    "sort_reverse": "Inverser l'ordre par {column}",
    "sorted": "trié",
    "page_of": "Page {page} sur {pages}",
    "previous_page": "Page précédente",
    "next_page": "Page suivante",
    "no_datasets": "Aucun jeu de données ne correspond à cette vue.",
    "back": "Tous les jeux de données",
    "export": "Exporter",
    "export_csv": "CSV (jeux de données × groupes × domaines)",
    "export_xlsx": "Classeur Excel",
    "empty_title": "Pas encore d'usage",
    "empty_intro": (
        "Rien n'a encore été compté. Dirigez l'expéditeur de journaux du proxy inverse vers "
        "POST /ingest, ou envoyez un premier lot à la main :"
    ),
    "empty_then": "Puis rechargez cette page.",
    "bad_view": "Cette vue ne peut pas être affichée",
    "no_such_dataset": "Aucun jeu de données de ce nom parmi ceux que vous pouvez voir.",
    "reset_view": "Revenir aux 7 derniers jours",
    "unknown_title": "(sans titre)",
    "no_domain": "(sans référent)",
    "group_OWNER": "Membres de l'organisation propriétaire",
    "group_OWNER_API_KEY": "Clés d'API du propriétaire",
    "group_EXTERNAL": "Autres utilisateurs connectés",
    "group_EXTERNAL_API_KEY": "Autres clés d'API",
    "group_ANONYMOUS": "Anonymes",
    "group_BOT": "Robots",
    "category_backoffice": "Back-office",
    "category_portal": "Portail",
    "category_embed": "Vues embarquées",
    "category_app": "Applications",
    "category_mcp": "MCP",
    "category_external": "Sites externes",
    "category_none": "Sans référent",
    "category_invalid": "Référent illisible",
    "category_ip": "Sites appelés par adresse IP",
    "category_other": "Autres pages (historique Data Fair)",
    "invalid_domain": "(référent illisible)",
    "ip_domain": "(adresse IP)",
    "account": "Compte",
    "web_analytics": "Mesure d'audience",
    "loading": "Chargement…",
    "empty_owner_intro": (
        "Aucun usage n'a encore été compté pour vos jeux de données. L'exploitant du portail "
        "envoie les journaux d'accès du proxy inverse à ce service ; les chiffres apparaissent "
        "ici peu après les premières requêtes sur vos jeux de données."
    ),
    "empty_owner_then": (
        "Si vos jeux de données ont été utilisés et que rien n'apparaît après une heure, "
        "demandez à l'exploitant du portail si l'expéditeur de journaux fonctionne."
    ),
    "dataset_id": "Identifiant",
    "portal": "Portail",
    "open_on_portal": "Ouvrir le jeu de données sur le portail",
    "compare": "Comparer avec",
    "compare_previous": "Période précédente",
    "compare_year": "Même période un an avant",
    "compare_none": "Sans comparaison",
    "compared_with_year": "comparé avec les mêmes jours un an avant, {start} → {end}",
    "no_comparison": "sans comparaison",
    "custom_period": "Dates personnalisées",
    "chip_group": "Groupe",
    "chip_domain": "Domaine appelant",
    "chip_dataset": "Jeu de données",
    "add_filter": "+ Filtre",
    "filter_on": "Filtrer sur {value}",
    "empty_period": "Aucun usage sur cette période",
    "empty_period_hint": (
        "Aucune des requêtes comptées pour cette vue ne tombe sur ces jours : choisissez une "
        "période plus longue, ou retirez un filtre."
    ),
    "interval": "Intervalle",
    "interval_day": "Jour",
    "interval_week": "Semaine",
    "interval_month": "Mois",
    "too_many_bars": "{bars} barres : plus qu'un graphique n'en dessine ({most})",
    "chart_api_calls_day": "Appels API par jour",
    "chart_api_calls_week": "Appels API par semaine",
    "chart_api_calls_month": "Appels API par mois",
    "chart_downloads_day": "Téléchargements par jour",
    "chart_downloads_week": "Téléchargements par semaine",
    "chart_downloads_month": "Téléchargements par mois",
    "chart_help": (
        "Utilisez les flèches gauche et droite, ou touchez une barre, pour lire les chiffres "
        "de chaque intervalle."
    ),
    "compared_interval": "Comparé avec",
    "compared_period": "Période comparée",
    "name": "Nom",
    "current_short": "Période",
    "previous_short": "Avant",
    "share": "Part",
    "trend_api_calls": "Évolution des appels API sur la période",
    "trend_consumers": "Évolution des consommateurs distincts sur la période",
    "trend_downloads": "Évolution des téléchargements sur la période",
    "owner_user": "{name} (utilisateur)",
    "owner_organization": "{name} (organisation)",
    "preset_today": "Aujourd'hui",
    "partial_day": "aujourd'hui, partiel",
    "partial_week": "cette semaine, partielle",
    "partial_month": "ce mois-ci, partiel",
    "partial_note_day": (
        "Aujourd'hui ({day}, {zone}) est encore en cours de comptage : sa barre hachurée "
        "grandit jusqu'à minuit."
    ),
    "partial_note_week": (
        "Cette semaine contient aujourd'hui ({day}, {zone}), encore en cours de comptage : "
        "sa barre hachurée grandit jusqu'à la fin de la semaine."
    ),
    "partial_note_month": (
        "Ce mois-ci contient aujourd'hui ({day}, {zone}), encore en cours de comptage : "
        "sa barre hachurée grandit jusqu'à la fin du mois."
    ),
    "updated_now": "À jour : tous les lots reçus sont comptés.",
    "updated_waiting": "Mis à jour il y a {age} ; reste à compter : {batches} ({lines}).",
    "updated_behind": "Mis à jour il y a {age} : les lots reçus depuis ne sont pas encore comptés.",
    "batches_one": "{n} lot",
    "batches_many": "{n} lots",
    "lines_one": "{n} ligne",
    "lines_many": "{n} lignes",
    "subscriptions": "Rapports et alertes",
    "subscriptions_intro": (
        "Rapports de la semaine (le lundi, pour la semaine passée), du mois (le 1er, pour le "
        "mois passé) et alertes quand l'usage d'un jeu de données chute, s'envole ou échoue, "
        "par courriel ou webhook. Chaque courriel a un lien qui met fin à son abonnement."
    ),
    "subscribe": "S'abonner",
    "subscription_owner": "Jeux de données de",
    "subscription_channel": "Envoyer à",
    "channel_email": "Adresse électronique",
    "channel_webhook": "URL de webhook",
    "subscription_target": "Adresse ou URL",
    "report_weekly": "Rapport de la semaine",
    "report_monthly": "Rapport du mois",
    "report_alerts": "Alertes",
    "subscription_lang": "Langue des messages",
    "threshold_drop": "Alerter quand l'usage d'un jour chute de (%)",
    "threshold_spike": "ou s'envole à (× l'habituel)",
    "threshold_errors": "ou que les erreurs serveur dépassent (% des requêtes)",
    "threshold_floor": "pour les jeux de données utilisés d'habitude au moins (par jour)",
    "subscribed": "Abonnement enregistré.",
    "webhook_secret": "Le secret de signature du webhook, affiché cette seule fois : {secret}",
    "no_subscriptions": "Aucun abonnement pour l'instant.",
    "unsubscribe": "Se désabonner",
    "unsubscribe_confirm": "Mettre fin à cet abonnement aux rapports et alertes d'usage ?",
    "unsubscribed": "L'abonnement a pris fin : plus rien ne lui sera envoyé.",
    "unsubscribe_unknown": "Ce lien ne termine aucun abonnement (déjà terminé, ou erroné).",
    "deliveries": "Derniers envois",
    "no_deliveries": "Rien d'envoyé pour l'instant.",
    "delivery_when": "Quand",
    "delivery_what": "Quoi",
    "delivery_result": "Résultat",
    "delivery_ok": "ok",
    "delivery_sending": "en cours",
    "delivery_failed": "erreur : {error}",
}

CATALOGUE: Mapping[Lang, Mapping[str, str]] = {"en": _EN, "fr": _FR}


def translator(lang: Lang) -> Callable[..., str]:
    """t(key, **values): the label in `lang`, its {placeholders} filled; an unknown key fails
    loudly (a test renders every page in both languages)."""
    words = CATALOGUE[lang]

    def t(key: str, **values: object) -> str:
        text = words[key]
        return text.format(**values) if values else text

    return t


def group_label(lang: Lang, kind: str, key: str) -> str:
    """A breakdown key as a reader names it: user groups and categories translated, a domain
    as it is, but for the stored stand-ins for no referer ("none"), a bad one ("invalid") and
    an address ("ip")."""
    words = CATALOGUE[lang]
    if kind == "user_group":
        return words.get(f"group_{key}", key)
    if kind == "referer_category":
        return words.get(f"category_{key}", key)
    stand_ins = {"none": "no_domain", "invalid": "invalid_domain", "ip": "ip_domain"}
    return words[stand_ins[key]] if key in stand_ins else key
