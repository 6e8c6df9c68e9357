"""
The REST add-on, live: a project baked with use_rest=true, served by real gunicorn with production settings.

With DATABASE_URL (a PostgreSQL server) the server uses a fresh database on it; without, SQLite.
"""

import json
import os
import re
import secrets
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from .conftest import PRODUCTION_ENV, ProcfileProcess, fresh_database, procfile, project_venv, run

SLUG = "rest_live"
USERNAME, PASSWORD = "fuzzer", secrets.token_urlsafe(16)


@pytest.fixture(scope="module")
def server(bake):
    """The baked project under gunicorn, started as the Procfile says, after its build and release steps."""
    project = bake(project_slug=SLUG, use_rest=True)
    bin_dir = project_venv(project)
    use_postgres = bool(os.environ.get("DATABASE_URL"))
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")  # each xdist worker serves its own copy
    database_url = fresh_database(f"ldj_rest_live_{worker}") if use_postgres else f"sqlite:///{project / 'db.sqlite3'}"
    env = {
        **PRODUCTION_ENV,
        "DATABASE_URL": database_url,
        "API_THROTTLE_USER": "100000/minute",  # the fuzzer sends hundreds of requests a minute
    }
    run(["bash", "-c", procfile(project)["release"]], project, bin_dir, env)
    run(["python", "manage.py", "collectstatic", "--noinput"], project, bin_dir, env)  # the build step
    create = (
        "from django.contrib.auth.models import User; from django.db import connection; "
        "from rest_framework.authtoken.models import Token; "
        f"user = User.objects.create_user({USERNAME!r}, 'fuzzer@example.com', {PASSWORD!r}); "
        "print(connection.vendor, Token.objects.create(user=user).key)"
    )
    vendor, token = run(
        ["python", "manage.py", "shell", "--no-imports", "-c", create], project, bin_dir, env
    ).stdout.split()
    web = ProcfileProcess(project, "web", bin_dir, env)
    yield {"base": web.url, "token": token, "vendor": vendor}
    assert web.stop() == 0, web.output()


def fetch(server, path, method="GET", body=None, token=None):
    """One request as Heroku's router would pass it on: over HTTPS, to an allowed host."""
    headers = {"X-Forwarded-Proto": "https", "Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Token {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(server["base"] + path, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def test_the_server_uses_the_database_that_database_url_names(server):
    assert server["vendor"] == ("postgresql" if os.environ.get("DATABASE_URL") else "sqlite")


@pytest.mark.parametrize(("method", "path"), [("GET", "/api/"), ("GET", "/api/me/"), ("PATCH", "/api/me/")])
def test_anonymous_requests_get_401_and_no_data(server, method, path):
    status, headers, body = fetch(server, path, method, body={} if method == "PATCH" else None)
    assert status == 401
    assert headers["WWW-Authenticate"] == "Token"
    assert json.loads(body) == {"detail": "Authentication credentials were not provided."}


def test_the_token_endpoint_gives_the_token_that_reads_the_user(server):
    status, _, body = fetch(server, "/api/token/", "POST", {"username": USERNAME, "password": PASSWORD})
    assert status == 200
    assert json.loads(body) == {"token": server["token"]}
    status, _, body = fetch(server, "/api/me/", token=server["token"])
    assert (status, json.loads(body)["username"]) == (200, USERNAME)


def test_the_docs_page_and_its_files_come_from_this_site(server):
    status, _, page = fetch(server, "/api/docs/")
    assert status == 200
    bundle = re.search(
        r'src="(/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle\.[0-9a-f]+\.js)"', page.decode()
    )
    assert bundle, "the page loads a hashed, locally served Swagger UI bundle"
    status, headers, _ = fetch(server, bundle.group(1))
    assert status == 200
    assert headers["Cache-Control"] == "max-age=315360000, public, immutable"


def test_schemathesis_finds_no_server_error_and_no_response_that_breaks_the_schema(server, tmp_path):
    status, _, schema = fetch(server, "/api/schema/?format=json")
    assert status == 200
    (tmp_path / "schema.json").write_bytes(schema)
    command = [
        *[sys.executable, "-m", "schemathesis.cli", "run", str(tmp_path / "schema.json")],
        *[
            "--url",
            server["base"],
            "--checks",
            "not_a_server_error,status_code_conformance,response_schema_conformance,content_type_conformance",
        ],
        *["--header", f"Authorization: Token {server['token']}", "--header", "X-Forwarded-Proto: https"],
        *["--max-examples", "30", "--seed", os.environ.get("SCHEMATHESIS_SEED", "20251125"), "--no-color"],
    ]
    result = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"\b[1-9]\d* passed\b", result.stdout), result.stdout
