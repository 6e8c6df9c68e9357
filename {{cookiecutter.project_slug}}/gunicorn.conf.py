"""gunicorn settings, read by the Procfile's `gunicorn`. Numbers fit Heroku's router: it gives up on a request after
30 s and keeps idle connections open for 90 s. https://docs.gunicorn.org/en/stable/settings.html"""

import importlib
import logging
import os

import gevent

# Each connection in a greenlet, not a thread: clients that send slowly (slowloris, slow POST) or hold idle
# connections cost a little memory each. https://docs.gunicorn.org/en/stable/design.html#async-workers
worker_class = "gevent"
worker_connections = 10_000  # per worker process
WEB_CONCURRENCY = os.environ.get("WEB_CONCURRENCY", "2")
if not WEB_CONCURRENCY.isdigit() or int(WEB_CONCURRENCY) < 1:
    raise SystemExit("WEB_CONCURRENCY must be a whole number above 0; set e.g. WEB_CONCURRENCY=2.")
workers = int(WEB_CONCURRENCY)  # Heroku sets it to fit the dyno
bind = f"[::]:{os.environ.get('PORT', '8000')}"  # IPv6 and IPv4; Heroku sets PORT
timeout = 25  # restart a worker that stops responding, before the router's 30 s
graceful_timeout = 20  # finish requests on restart within Heroku's 30 s shutdown window
keepalive = 95  # outlive the router's 90 s idle connections, so it never reuses a closed one
accesslog = "-"  # stdout
# Heroku's router gives each request an X-Request-ID and logs it: find a request in both logs with it.
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms request_id=%({x-request-id}i)s'
control_socket_disable = True  # else gunicorn 25.1+ opens ~/.gunicorn/gunicorn.ctl, shared by every server here
# Django answers HEAD as GET, body included; gunicorn drops the body, and would log that for every HEAD.
logging.getLogger("gunicorn.http.wsgi").setLevel(logging.ERROR)


def on_starting(server):  # a server hook: read the settings before any worker, so a bad variable stops it in one line
    importlib.import_module(os.environ.setdefault("DJANGO_SETTINGS_MODULE", "{{ cookiecutter.project_slug }}.settings"))


def post_request(worker, req, environ, resp):  # a server hook: https://docs.gunicorn.org/en/stable/settings.html
    gevent.sleep(0)  # the worker's other clients get a turn: else a client that sends at once keeps the worker
