"""
Redis cut under the REST API, served by gunicorn as the Procfile says: every answer stays below 500 (the
throttles and the cache pause: django-redis's IGNORE_EXCEPTIONS), /healthz stays 200, says the cache is
unavailable and logs one line saying so, and the throttles count again once Redis answers, without a restart.

The cut happens in a TCP proxy of the test's own in front of REDIS_URL's server, which keeps running.
"""

import json
import re
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from .conftest import PRODUCTION_ENV, ProcfileProcess, procfile, project_venv, run, service_url

SLUG = "redis_outage"
REDIS_DB = 9  # a database of its own on the shared server: other tests run sites with the same SECRET_KEY
REQUESTS_DURING_THE_CUT = 20
RATE = 10  # requests a minute per user, so that the throttle shows when it counts again
TIMEOUT = 15  # seconds, an upper bound for one answer
UNREACHABLE = "Health check: Redis (REDIS_URL) did not answer"


class CuttableProxy:
    """Forwards TCP connections to Redis until cut: "refused" closes every connection and each new one, as when
    the server is down; "silent" keeps them open and lets nothing through, as when a network drops packets."""

    def __init__(self, target):
        self.target, self.mode, self.links = target, "up", []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # closed
            if self.mode == "refused":
                client.close()
                continue
            self.links.append(client)
            if self.mode == "up":
                upstream = socket.create_connection(self.target)
                self.links.append(upstream)
                for source, sink in ((client, upstream), (upstream, client)):
                    threading.Thread(target=self.pipe, args=(source, sink), daemon=True).start()

    def pipe(self, source, sink):
        try:
            while data := source.recv(65536):
                if self.mode == "up":
                    sink.sendall(data)
        except OSError:
            pass  # cut

    def cut(self, mode):
        self.mode = mode
        if mode == "refused":
            self.close_links()

    def restore(self):
        self.close_links()  # what was cut stays cut, as for a client whose server restarted
        self.mode = "up"

    def close_links(self):
        for link in self.links:
            link.close()
        self.links.clear()

    def close(self):
        self.listener.close()
        self.close_links()


@pytest.fixture(scope="module")
def server(bake):
    """The REST project under gunicorn with its cache on Redis through the proxy; a user and token per test."""
    redis_url = urllib.parse.urlsplit(service_url("REDIS_URL"))
    proxy = CuttableProxy((redis_url.hostname, redis_url.port or 6379))
    project = bake(project_slug=SLUG, use_rest=True)
    bin_dir = project_venv(project)
    env = {
        **PRODUCTION_ENV,
        "DATABASE_URL": f"sqlite:///{project / 'db.sqlite3'}",
        "REDIS_URL": f"redis://127.0.0.1:{proxy.port}/{REDIS_DB}",
        "API_THROTTLE_USER": f"{RATE}/minute",
    }
    (project / "db.sqlite3").unlink(missing_ok=True)
    run(["bash", "-c", procfile(project)["release"]], project, bin_dir, env)
    create = (  # and forget what an earlier run counted for these users (the same ids in a new database)
        "from django.contrib.auth.models import User; from django.core.cache import cache; "
        "from rest_framework.authtoken.models import Token; "
        "users = [User.objects.create_user(name) for name in ('ada', 'bob')]; "
        "cache.delete_many([f'throttle_user_{user.pk}' for user in users]); "
        "print(*(Token.objects.create(user=user).key for user in users))"
    )
    tokens = run(["python", "manage.py", "shell", "--no-imports", "-c", create], project, bin_dir, env).stdout.split()
    web = ProcfileProcess(project, "web", bin_dir, env)
    yield {"web": web, "proxy": proxy, "tokens": tokens}
    assert web.stop() == 0, web.output()
    proxy.close()


def get(server, path, token=None):
    headers = {"X-Forwarded-Proto": "https", **({"Authorization": f"Token {token}"} if token else {})}
    request = urllib.request.Request(server["web"].url + path, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as answer:
            return answer.status, json.load(answer)
    except urllib.error.HTTPError as error:
        body = error.read()
        return error.code, json.loads(body) if error.headers["Content-Type"] == "application/json" else body


def until(condition, what, deadline=60):
    """Poll condition() every 0.5 s until it holds; a generous deadline, not a measurement."""
    give_up = time.monotonic() + deadline
    while not condition():
        assert time.monotonic() < give_up, f"not within {deadline} s: {what}"
        time.sleep(0.5)


@pytest.mark.parametrize("mode", ["refused", "silent"])
def test_the_api_answers_through_a_redis_outage_and_throttles_again_after_it(server, mode):
    token = server["tokens"][["refused", "silent"].index(mode)]
    web, proxy = server["web"], server["proxy"]
    assert [get(server, "/api/me/", token)[0] for _ in range(3)] == [200] * 3  # counted in Redis
    assert get(server, "/healthz") == (200, {"status": "ok", "database": "ok", "cache": "ok"})
    log_start = len(web.output())

    proxy.cut(mode)
    during = [get(server, "/api/me/", token)[0] for _ in range(REQUESTS_DURING_THE_CUT)]
    health = get(server, "/healthz")
    proxy.restore()

    assert during == [200] * REQUESTS_DURING_THE_CUT, f"{sum(s >= 500 for s in during)} answers of 500 or more"
    assert health == (200, {"status": "degraded", "database": "ok", "cache": "unavailable"})
    # Back without a restart: the throttle counts in Redis again, so this user soon hits its rate.
    until(lambda: get(server, "/api/me/", token)[0] == 429, "a 429 once Redis answers again")
    until(lambda: get(server, "/healthz")[1]["cache"] == "ok", "/healthz says the cache is back")
    log = web.output()[log_start:]
    assert log.count(UNREACHABLE) == 1 and "Traceback" not in log, log  # the one /healthz call during the cut
    assert re.search(re.escape(UNREACHABLE) + r": \S", log), "the line names the error"
