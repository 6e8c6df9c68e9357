"""
The REST add-on, live: a project baked with use_rest=true, served by real gunicorn with production settings.

Self-contained (its own module-scoped fixtures). The generated project's virtualenv is cached under
/tmp/ldj-venvs/<hash of its requirements-dev.txt>, so only the first run installs packages.
DATABASE_URL (a PostgreSQL server URL) makes the server use a fresh database on that server; without it,
SQLite. A service that is asked for but absent skips these tests loudly; REQUIRE_SERVICES=1 makes that a failure.
"""

import fcntl
import hashlib
import json
import os
import re
import secrets
import shlex
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from cookiecutter.main import cookiecutter

TEMPLATE = Path(__file__).resolve().parent.parent
VENVS = Path("/tmp/ldj-venvs")
SLUG = "rest_live"
USERNAME, PASSWORD = "fuzzer", secrets.token_urlsafe(16)


def service_missing(reason):
    """Skip loudly, or fail when the run promised every service (REQUIRE_SERVICES=1)."""
    message = f"SERVICE MISSING: {reason}"
    if os.environ.get("REQUIRE_SERVICES") == "1":
        pytest.fail(message)
    pytest.skip(message)


def run(command, **kwargs):
    result = subprocess.run(command, capture_output=True, text=True, check=False, **kwargs)
    assert result.returncode == 0, f"{shlex.join(map(str, command))} failed:\n{result.stdout}\n{result.stderr}"
    return result


def project_venv(requirements):
    """A virtualenv with the generated project's requirements-dev.txt, built once per distinct file."""
    venv = VENVS / hashlib.sha256(requirements.read_bytes()).hexdigest()[:16]
    VENVS.mkdir(parents=True, exist_ok=True)
    with open(f"{venv}.lock", "w") as lock:  # parallel runs wait for the one that builds it
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (venv / "ready").exists():  # built in place: scripts name their interpreter's absolute path
            shutil.rmtree(venv, ignore_errors=True)
            run([sys.executable, "-m", "venv", str(venv)])
            run([str(venv / "bin" / "pip"), "install", "-q", "-r", str(requirements)])
            (venv / "ready").touch()
    return venv


def fresh_database(url):
    """Create an empty database on the server that DATABASE_URL names; return its URL and a drop function."""
    import psycopg

    name = f"ldj_rest_live_{secrets.token_hex(4)}"
    parts = urllib.parse.urlsplit(url)
    try:
        admin = psycopg.connect(url, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as error:
        service_missing(f"PostgreSQL at DATABASE_URL is unreachable ({error.__class__.__name__}); start it or unset it")
    admin.execute(f'CREATE DATABASE "{name}"')

    def drop():
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()

    return urllib.parse.urlunsplit(parts._replace(path=f"/{name}")), drop


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The baked project under gunicorn, started as the Procfile says, after its release step."""
    project = Path(
        cookiecutter(
            str(TEMPLATE),
            no_input=True,
            default_config=True,
            output_dir=str(tmp_path_factory.mktemp("bake")),
            extra_context={"project_slug": SLUG, "use_rest": True},
        )
    )
    venv = project_venv(project / "requirements-dev.txt")
    drop = None
    if os.environ.get("DATABASE_URL"):
        database_url, drop = fresh_database(os.environ["DATABASE_URL"])
    else:
        database_url = f"sqlite:///{project / 'db.sqlite3'}"
    port = free_port()
    env = {
        "PATH": f"{venv / 'bin'}:{os.environ['PATH']}",
        "PYTHONDONTWRITEBYTECODE": "1",
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DATABASE_URL": database_url,
        "PORT": str(port),
        "API_THROTTLE_USER": "100000/minute",  # the fuzzer sends hundreds of requests a minute
    }
    procfile = dict(line.split(": ", 1) for line in (project / "Procfile").read_text().splitlines() if ": " in line)
    run(shlex.split(procfile["release"]), cwd=project, env=env)
    run(["python", "manage.py", "collectstatic", "--noinput"], cwd=project, env=env)  # the build step
    create = (
        "from django.contrib.auth.models import User; from django.db import connection; "
        "from rest_framework.authtoken.models import Token; "
        f"user = User.objects.create_user({USERNAME!r}, 'fuzzer@example.com', {PASSWORD!r}); "
        "print(connection.vendor, Token.objects.create(user=user).key)"
    )
    vendor, token = run(
        ["python", "manage.py", "shell", "--no-imports", "-c", create], cwd=project, env=env
    ).stdout.split()
    log = (project / "gunicorn.log").open("w")
    web = subprocess.Popen(shlex.split(procfile["web"]), cwd=project, env=env, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{base}/healthz", timeout=1).close()
                break
            except OSError:
                assert web.poll() is None, (project / "gunicorn.log").read_text()
                time.sleep(0.2)
        else:
            pytest.fail(f"gunicorn did not answer /healthz within 20 s:\n{(project / 'gunicorn.log').read_text()}")
        yield {"base": base, "token": token, "vendor": vendor}
    finally:
        web.terminate()
        web.wait(timeout=30)
        log.close()
        if drop:
            drop()


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
