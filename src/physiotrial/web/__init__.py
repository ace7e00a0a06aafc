"""The web layer (issue 6): server-rendered pages and a JSON API over the same services.

It adds no trial logic: every page and endpoint calls a service and shows what the service
returns, with the services' own role and blinding rules (DESIGN.md, "A blinded role never
receives allocation"). Build the app with :func:`physiotrial.web.app.create_app`.
"""
