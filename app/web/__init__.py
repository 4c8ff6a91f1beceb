"""The HTML side: admin sign-in and pages (Jinja2 + HTMX), and the public analytics files."""
