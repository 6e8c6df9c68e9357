"""
The REST add-on, live: a project baked with use_rest=true and the board (the API's largest user), served by real
gunicorn with production settings, once on SQLite and once on a fresh PostgreSQL database next to DATABASE_URL's
(skipped loudly without it; REQUIRE_SERVICES=1 makes that a failure). Schemathesis fuzzes every operation of its
schema, and every field and parameter gets the strings databases and encoders choke on: no answer may be a 500,
and the server's log may hold no traceback.
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

from .conftest import PRODUCTION_ENV, TEMPLATE, ProcfileProcess, fresh_database, procfile, project_venv, run

SLUG = "rest_live"
USERNAME, PASSWORD = "fuzzer", secrets.token_urlsafe(16)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(bake, request):
    """The baked project under gunicorn, started as the Procfile says, after its build and release steps."""
    project = bake(project_slug=SLUG, use_rest=True, use_realtime=True, example_app="board")
    bin_dir = project_venv(project)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")  # each xdist worker serves its own copy
    if request.param == "postgresql":
        database_url = fresh_database(f"ldj_rest_live_{worker}")
    else:
        (project / "db.sqlite3").unlink(missing_ok=True)
        database_url = f"sqlite:///{project / 'db.sqlite3'}"
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
    yield {"base": web.url, "token": token, "vendor": vendor, "database": request.param, "web": web}
    assert web.stop() == 0, web.output()


def fetch(server, path, method="GET", body=None, token=None, headers=None):
    """One request as Heroku's router would pass it on: over HTTPS, to an allowed host."""
    headers = {"X-Forwarded-Proto": "https", "Content-Type": "application/json", **(headers or {})}
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
    assert server["vendor"] == server["database"]


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


def test_the_rest_pages_curl_commands_get_the_token_and_read_the_user(server):
    """docs/rest.md's *Use it*, as printed, with this server for https://example.com (plus the router's
    X-Forwarded-Proto, as Heroku's adds it) and the test user for alice."""
    block = (TEMPLATE / "docs" / "rest.md").read_text().split("## Use it", 1)[1].split("```sh\n", 1)[1]
    get_token, shown, read_me = block.split("```", 1)[0].replace("\\\n", "").splitlines()
    shown_token = re.fullmatch(r'# \{"token":"([0-9a-f]{40})"\}', shown)[1]

    def curl(command):
        command = command.replace("https://example.com", server["base"]).replace(shown_token, server["token"])
        command = command.replace('"alice"', f'"{USERNAME}"').replace('"..."', f'"{PASSWORD}"')
        command += " -sS -H 'X-Forwarded-Proto: https'"
        return subprocess.run(["bash", "-c", command], capture_output=True, text=True, check=True).stdout

    assert curl(get_token) == f'{{"token":"{server["token"]}"}}'
    assert json.loads(curl(read_me))["username"] == USERNAME


def test_strangers_get_401_from_the_schema_and_the_docs(server):
    for path in ("/api/schema/?format=json", "/api/docs/"):
        assert fetch(server, path)[0] == 401, f"{path} describes the API to strangers (API_DOCS_PUBLIC is off)"


def test_the_docs_page_and_its_files_come_from_this_site(server):
    status, _, page = fetch(server, "/api/docs/", token=server["token"])
    assert status == 200
    bundle = re.search(
        r'src="(/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle\.[0-9a-f]+\.js)"', page.decode()
    )
    assert bundle, "the page loads a hashed, locally served Swagger UI bundle"
    status, headers, _ = fetch(server, bundle.group(1))
    assert status == 200
    assert headers["Cache-Control"] == "max-age=315360000, public, immutable"


def test_schemathesis_finds_no_server_error_and_no_response_that_breaks_the_schema(server, tmp_path):
    status, _, schema = fetch(server, "/api/schema/?format=json", token=server["token"])
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
        *["--generation-allow-x00", "true"],  # NUL in strings, which PostgreSQL's text cannot hold
    ]
    result = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=600, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"\b[1-9]\d* passed\b", result.stdout), result.stdout
    assert "Traceback" not in server["web"].output(), server["web"].output()[-5000:]


# What no field or parameter may answer with a 500: NUL, lone surrogates (JSON escapes them; headers and URLs
# cannot carry them, so there they become the bytes a client might send instead), and over-long values.
BODY_STRINGS = ["a\x00b", "a\ud800b", "\udfff", "x" * 100_000]
URL_STRINGS = ["a%00b", "%ED%A0%80", "%FF%FE", "x" * 2_000]  # gunicorn's request line holds 4,094 bytes
HEADER_STRINGS = ["a\x7fb", "\xff\xfe", "x" * 4_000]  # a header field holds 8,190


def operations(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in {"get", "put", "patch", "post", "delete"}:
                yield path, method.upper(), operation


def body_properties(schema, operation):
    """The properties of the operation's JSON body, and a plain string for each required one of type string."""
    body = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
    if "$ref" in body:
        body = schema["components"]["schemas"][body["$ref"].rsplit("/", 1)[1]]
    properties = body.get("properties", {})
    required = {name: "x" for name in body.get("required", []) if properties[name].get("type") == "string"}
    return list(properties), required


def test_no_field_or_parameter_answers_a_server_error_for_any_string(server):
    """Each property of each body, each query and header parameter and each path ID, one hostile string at a time:
    a body's string is refused with a 4xx, a parameter's answered with anything but a 5xx."""
    status, _, schema = fetch(server, "/api/schema/?format=json", token=server["token"])
    assert status == 200
    schema = json.loads(schema)
    status, _, task = fetch(server, "/api/board/tasks/", "POST", {"title": "Fuzzed"}, token=server["token"])
    assert status == 201, task
    task = json.loads(task)
    wrong, tried = [], 0

    def send(method, url, body=None, headers=None, refused=False):
        nonlocal tried
        tried += 1
        status, answer_headers, content = fetch(server, url, method, body, server["token"], headers)
        if status >= 500 or (refused and not 400 <= status < 500):
            wrong.append(f"{method} {url[:60]} {str(body)[:60]} {str(headers)[:60]}: {status} {content[:200]}")

    for path, method, operation in operations(schema):
        url = path.replace("{id}", str(task["id"]))
        parameters = operation.get("parameters", [])
        # A change must name the task's current version, or it is refused before its body is read.
        if_match = {"If-Match": task["etag"]} if any(p["name"] == "If-Match" for p in parameters) else {}
        properties, required = body_properties(schema, operation)
        for name in properties:
            for string in BODY_STRINGS:  # alone, and with the required fields, so that validate() runs too
                send(method, url, {name: string}, if_match, refused=True)
                send(method, url, {**required, name: string}, if_match, refused=True)
        body = {} if method in {"POST", "PUT", "PATCH"} else None
        for parameter in parameters:
            for string in URL_STRINGS if parameter["in"] in {"path", "query"} else HEADER_STRINGS:
                if parameter["in"] == "path":
                    send(method, path.replace("{id}", string), body)
                elif parameter["in"] == "query":
                    send(method, f"{url}?{parameter['name']}={string}", body)
                elif parameter["in"] == "header":
                    send(method, url, body, {**if_match, parameter["name"]: string})
    assert tried > 100, f"{tried} requests: the schema no longer lists the operations and their fields"
    assert not wrong, "\n".join(wrong)
    assert "Traceback" not in server["web"].output(), server["web"].output()[-5000:]
