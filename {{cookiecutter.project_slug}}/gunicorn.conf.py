"""
Gunicorn settings; the Procfile's `web:` line runs `gunicorn` in this folder, which reads them.

Numbers fit Heroku's router: it gives up on a request after 30 s and keeps idle
connections open for 90 s.
https://docs.gunicorn.org/en/stable/settings.html
"""

import os


def _whole_number(name, default):
    value = os.environ.get(name, str(default))
    if not value.isdigit() or int(value) < 1:
        raise SystemExit(f"{name} must be a whole number above 0; set e.g. {name}={default}.")
    return int(value)


bind = f"0.0.0.0:{_whole_number('PORT', 8000)}"
workers = _whole_number("WEB_CONCURRENCY", 2)
worker_class = "gthread"
threads = _whole_number("GUNICORN_THREADS", 4)
timeout = 25  # restart a worker that stops responding, before the router's 30 s (gthread never cuts a slow request)
graceful_timeout = 20  # finish requests on restart within Heroku's 30 s shutdown window
keepalive = 95  # outlive the router's 90 s idle connections, so it never reuses a closed one
accesslog = "-"  # stdout
errorlog = "-"  # stderr
control_socket_disable = True  # else gunicorn 25.1+ opens ~/.gunicorn/gunicorn.ctl, shared by every server here
