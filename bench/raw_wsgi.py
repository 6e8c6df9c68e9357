"""
The ceiling: the least a WSGI app can do to answer like the generated project.

Same JSON body as the generated `/healthz` (but no database round trip) and the same CSS
bytes at the same hashed static path (from memory, read once at start-up). Served by the
same gunicorn.conf.py as the Django contenders, so the difference is Django and its add-ons.

With RAW_WHITENOISE_ROOT set, whitenoise wraps it as plain WSGI middleware and serves the
static files from that folder (from disk, as in the generated project): this splits the
static-file gap into whitenoise's own cost and Django's request handling.
"""

import os

HEALTHZ = os.environ["RAW_HEALTHZ"].encode()  # bench/run.py: the generated /healthz's JSON
with open(os.environ["RAW_STATIC_FILE"], "rb") as static_file:
    CSS = static_file.read()

ROUTES = {
    "/healthz": ("application/json", HEALTHZ),
    "/bench/healthz-no-query": ("application/json", HEALTHZ),  # the generated core's, minus its query
    os.environ["RAW_STATIC_PATH"]: ('text/css; charset="utf-8"', CSS),
}


def application(environ, start_response):
    content_type, body = ROUTES.get(environ["PATH_INFO"], ("text/plain", None))
    if body is None:
        start_response("404 Not Found", [("Content-Type", content_type), ("Content-Length", "9")])
        return [b"not found"]
    start_response("200 OK", [("Content-Type", content_type), ("Content-Length", str(len(body)))])
    return [body]


if os.environ.get("RAW_WHITENOISE_ROOT"):
    from whitenoise import WhiteNoise

    application = WhiteNoise(application, root=os.environ["RAW_WHITENOISE_ROOT"], prefix="static/")
