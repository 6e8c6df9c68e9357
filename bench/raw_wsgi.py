"""
The ceiling: the least a WSGI app can do to answer like the generated project.

Same JSON body as the generated `/healthz` (but no database round trip) and the same CSS
bytes at the same hashed static path (from memory, read once at start-up). Served by the
same gunicorn.conf.py as the Django contenders, so the difference is Django and its add-ons.
"""

import json
import os

HEALTHZ = json.dumps({"status": "ok", "database": "ok"}).encode()
with open(os.environ["RAW_STATIC_FILE"], "rb") as static_file:
    CSS = static_file.read()

ROUTES = {
    "/healthz": ("application/json", HEALTHZ),
    os.environ["RAW_STATIC_PATH"]: ('text/css; charset="utf-8"', CSS),
}


def application(environ, start_response):
    content_type, body = ROUTES.get(environ["PATH_INFO"], ("text/plain", None))
    if body is None:
        start_response("404 Not Found", [("Content-Type", content_type), ("Content-Length", "9")])
        return [b"not found"]
    start_response("200 OK", [("Content-Type", content_type), ("Content-Length", str(len(body)))])
    return [body]
