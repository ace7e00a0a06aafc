"""The web app's routers: pages (HTML, CSRF-protected) and the JSON API (bearer tokens)."""
