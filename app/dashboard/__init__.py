"""The usage dashboard (DESIGN §8): /login, /dashboard, a dataset's page, CSV and XLSX exports."""
