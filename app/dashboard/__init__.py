"""The usage dashboard (docs/dashboard.md): /login, /dashboard, a dataset's page, the exports."""
