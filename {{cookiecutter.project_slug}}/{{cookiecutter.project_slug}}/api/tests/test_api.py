"""
What the REST API promises its clients: login required, JSON answers (errors too), throttling, a valid schema.
"""

import json
import logging
import re

import pytest
from django.test import Client
from drf_spectacular.validation import validate_schema
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from ...env import EnvVarError
from ..exceptions import exception_handler
from .conftest import HOSTILE_STRINGS, PASSWORD, refused_in_one_line
from conftest import PRODUCTION_ENV, ROUTER_HEADERS, manage_py  # requests arrive through Heroku's router over HTTPS

NOT_LOGGED_IN = {"detail": "Authentication credentials were not provided."}


@pytest.mark.parametrize(("method", "path"), [("get", "/api/"), ("get", "/api/me/"), ("patch", "/api/me/")])
def test_anonymous_clients_get_401_that_says_how_to_log_in(anonymous, user, method, path):
    response = getattr(anonymous, method)(path)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert response["Content-Type"] == "application/json"
    assert response.json() == NOT_LOGGED_IN


def test_token_flow_username_and_password_give_a_token_that_identifies_the_user(anonymous, user):
    answer = anonymous.post("/api/token/", {"username": "alice", "password": PASSWORD}, "application/json")
    assert answer.status_code == 200
    token = answer.json()["token"]
    again = anonymous.post("/api/token/", {"username": "alice", "password": PASSWORD}, "application/json")
    assert again.json()["token"] == token, "one token per user until it is revoked"

    me = Client(headers={**ROUTER_HEADERS, "Authorization": f"Token {token}"}).get("/api/me/")
    assert me.status_code == 200
    assert me.json() == {
        "id": user.id,
        "username": "alice",
        "email": "alice@example.com",
        "first_name": "Alice",
        "last_name": "",
    }


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        (
            {"username": "alice", "password": "wrong"},
            {"non_field_errors": ["Unable to log in with provided credentials."]},
        ),
        ({"username": "alice"}, {"password": ["This field is required."]}),
    ],
)
def test_token_endpoint_refuses_wrong_credentials_with_field_errors(anonymous, user, body, errors):
    response = anonymous.post("/api/token/", body, "application/json")
    assert response.status_code == 400
    assert response.json() == errors


def test_a_wrong_token_is_401_not_anonymous_access(user):
    response = Client(headers={**ROUTER_HEADERS, "Authorization": "Token not-a-token"}).get("/api/me/")
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid token."}


def test_session_flow_browser_reads_freely_but_writes_only_with_the_csrf_token(user):
    browser = Client(enforce_csrf_checks=True, headers=ROUTER_HEADERS)
    browser.force_login(user)
    assert browser.get("/api/me/").json()["username"] == "alice"
    browser.get("/admin/login/")  # a page with a form sets the CSRF cookie; JavaScript reads it from there
    token = browser.cookies["csrftoken"].value

    def patch(origin, csrf_token=None):
        headers = {"Origin": origin, **({"X-CSRFToken": csrf_token} if csrf_token else {})}
        return browser.patch("/api/me/", {"first_name": "Al"}, "application/json", headers=headers)

    assert patch("https://testserver").json() == {"detail": "CSRF Failed: CSRF token missing."}
    cross_site = patch("https://evil.example", token)
    assert cross_site.status_code == 403
    assert cross_site.json()["detail"].startswith("CSRF Failed: Origin checking failed - https://evil.example")
    accepted = patch("https://testserver", token)
    assert accepted.status_code == 200
    assert accepted.json()["first_name"] == "Al"


def test_patch_me_changes_the_name_but_never_the_username_or_email(token_client, user):
    body = {"first_name": "Al", "username": "mallory", "email": "mallory@example.com"}
    response = token_client.patch("/api/me/", body, "application/json")
    assert response.status_code == 200
    user.refresh_from_db()
    assert (user.first_name, user.username, user.email) == ("Al", "alice", "alice@example.com")


@pytest.mark.parametrize(
    ("body", "content_type", "status", "answer"),
    [
        ('{"first_name": ', "application/json", 400, "JSON parse error - Expecting value: line 1 column 16"),
        ('{"first_name": NaN}', "application/json", 400, "JSON parse error - Out of range float values"),
        ("first_name=Al", "text/plain", 415, 'Unsupported media type "text/plain" in request.'),
        (json.dumps({"first_name": "x" * 151}), "application/json", 400, None),
    ],
)
def test_bad_request_bodies_get_400_or_415_saying_what_is_wrong(token_client, body, content_type, status, answer):
    response = token_client.patch("/api/me/", body, content_type)
    assert response.status_code == status
    if answer is None:  # validation errors name the field
        assert response.json() == {"first_name": ["Ensure this field has no more than 150 characters."]}
    else:
        assert response.json()["detail"].startswith(answer)


@pytest.mark.parametrize("string", HOSTILE_STRINGS)
@pytest.mark.parametrize(
    ("path", "field"),
    [("/api/me/", "first_name"), ("/api/me/", "last_name"), ("/api/token/", "username"), ("/api/token/", "password")],
)
def test_no_string_in_any_field_gets_more_than_a_400_in_one_line(token_client, user, caplog, path, field, string):
    body = {"username": "alice", "password": PASSWORD, field: HOSTILE_STRINGS[string]}
    if path == "/api/me/":
        response = token_client.patch(path, {field: HOSTILE_STRINGS[string]}, "application/json")
    else:
        response = Client(headers=ROUTER_HEADERS).post(path, body, "application/json")
    assert refused_in_one_line(response), (response.status_code, response.content[:300])
    user.refresh_from_db()
    assert (user.first_name, user.last_name) == ("Alice", "")
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR], caplog.text


@pytest.mark.parametrize("string", ["a\x00b", "x" * 100_000, "%ED%A0%80", "%FF%FE"])
@pytest.mark.parametrize("path", ["/api/", "/api/me/", "/api/schema/", "/api/docs/", "/api/nothing/"])
def test_no_query_parameter_gets_a_server_error(token_client, caplog, path, string):
    """The parameters DRF and drf-spectacular read (format, page, lang, version), with any bytes in them."""
    query = "&".join(f"{name}={string}" for name in ("format", "page", "lang", "version"))
    response = token_client.get(f"{path}?{query}")
    assert 200 <= response.status_code < 500, (response.status_code, response.content[:300])
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR], caplog.text


def test_request_bodies_over_django_upload_limit_are_refused_before_parsing(token_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    response = token_client.patch("/api/me/", {"first_name": "x" * 100}, "application/json")
    assert response.status_code == 413
    assert response.json() == {"detail": "The request body is larger than the limit of 100 bytes."}


@pytest.mark.parametrize(
    ("method", "path", "status", "detail"),
    [
        ("get", "/api/nothing-here/", 404, "No endpoint at /api/nothing-here/; see the list at /api/docs/."),
        ("post", "/api/nothing/here", 404, "No endpoint at /api/nothing/here; see the list at /api/docs/."),
        ("get", "/api/me", 404, "No endpoint at /api/me; did you mean /api/me/ (with the slash)?"),
        ("put", "/api/me/", 405, 'Method "PUT" not allowed.'),
        ("delete", "/api/me/", 405, 'Method "DELETE" not allowed.'),
        ("get", "/api/token/", 405, 'Method "GET" not allowed.'),
    ],
)
def test_unknown_paths_and_methods_are_json_errors(token_client, method, path, status, detail):
    response = getattr(token_client, method)(path)
    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": detail}


def test_unexpected_errors_are_a_logged_json_500_without_details(settings, caplog):
    settings.DEBUG = False
    response = exception_handler(RuntimeError("secret internals"), {})
    assert response.status_code == 500
    assert response.data == {"detail": "Server error. It has been logged; please try again later."}
    assert "secret internals" in caplog.text

    settings.DEBUG = True  # development: DRF re-raises and Django shows the traceback page
    assert exception_handler(RuntimeError("secret internals"), {}) is None


@pytest.fixture
def rates(settings, monkeypatch):
    """Set throttle rates for one test. DRF copies them onto the throttle class at import, so refresh that too."""

    def set_rates(**rates):
        settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
        monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", api_settings.DEFAULT_THROTTLE_RATES)

    return set_rates


def test_password_guessing_is_throttled_per_client_address(anonymous, user, rates):
    rates(anon="2/minute", user="1000/minute")
    guess = {"username": "alice", "password": "guess"}
    statuses = [anonymous.post("/api/token/", guess, "application/json").status_code for _ in range(3)]
    assert statuses == [400, 400, 429]


def test_a_client_cannot_escape_the_throttle_by_faking_x_forwarded_for(anonymous, user, rates):
    rates(anon="2/minute", user="1000/minute")
    guess = {"username": "alice", "password": "guess"}

    def attempt(forwarded_for):  # the router appends the address it saw to whatever the client sent
        return anonymous.post("/api/token/", guess, "application/json", headers={"X-Forwarded-For": forwarded_for})

    statuses = [attempt(f"10.0.0.{n}, 203.0.113.7").status_code for n in range(3)]
    assert statuses == [400, 400, 429]
    assert attempt("203.0.113.8").status_code == 400, "another client has its own count"


@pytest.mark.parametrize(
    ("proxies", "statuses"),
    [(0, [400, 400, 429]), (1, [400, 400, 400])],
    ids=["no proxy, API_NUM_PROXIES=0: throttled", "no proxy, API_NUM_PROXIES=1: picks its own address"],
)
def test_api_num_proxies_must_match_the_proxies_in_front(anonymous, user, rates, settings, proxies, statuses):
    """A client that reaches gunicorn directly writes X-Forwarded-For itself: with 0 proxies trusted the throttle
    counts its real address; with 1 (Heroku's shape, where no client can skip the router) it picks its own."""
    rates(anon="2/minute", user="1000/minute")
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": proxies}
    guess = {"username": "alice", "password": "guess"}
    answers = [
        anonymous.post("/api/token/", guess, "application/json", headers={"X-Forwarded-For": f"198.51.100.{n}"})
        for n in range(3)
    ]
    assert [answer.status_code for answer in answers] == statuses


def test_each_user_is_throttled_with_429_and_retry_after(token_client, rates):
    rates(anon="1000/minute", user="3/minute")
    statuses = [token_client.get("/api/me/").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    throttled = token_client.get("/api/me/")
    assert 0 < int(throttled["Retry-After"]) <= 60
    assert throttled.json()["detail"].startswith("Request was throttled. Expected available in")


def test_production_answers_json_even_to_browsers(token_client):
    browser_accept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    response = token_client.get("/api/me/", headers={"Accept": browser_accept})
    assert response["Content-Type"] == "application/json"


@pytest.mark.parametrize(("debug", "browsable"), [("false", False), ("true", True)])
def test_limits_come_from_the_environment_and_the_browsable_api_only_in_development(load_settings, debug, browsable):
    variables = {"API_PAGE_SIZE": "7", "API_THROTTLE_ANON": "5/second", "API_THROTTLE_USER": "100/hour"}
    api = load_settings(**{**PRODUCTION_ENV, "DEBUG": debug, **variables}).REST_FRAMEWORK
    assert api["PAGE_SIZE"] == 7
    assert api["DEFAULT_THROTTLE_RATES"] == {"anon": "5/second", "user": "100/hour"}
    assert ("rest_framework.renderers.BrowsableAPIRenderer" in api["DEFAULT_RENDERER_CLASSES"]) is browsable


@pytest.mark.parametrize("rate", ["60/fortnight", "sixty/minute", "60", "60/minute/s3cret"])
def test_a_malformed_throttle_rate_stops_start_up_with_one_line(load_settings, rate):
    with pytest.raises(EnvVarError) as stopped:
        load_settings(**PRODUCTION_ENV, API_THROTTLE_USER=rate)
    assert str(stopped.value) == (
        "Configuration error: API_THROTTLE_USER must be requests per second, minute, hour or day; "
        "set e.g. API_THROTTLE_USER=600/minute."
    )


def test_schema_generates_without_warnings_and_is_valid_openapi_3(manage, tmp_path):
    schema = tmp_path / "schema.yaml"
    result = manage("spectacular", "--validate", "--fail-on-warn", "--file", str(schema), **PRODUCTION_ENV)
    assert result.returncode == 0, result.stderr
    assert "Warning" not in result.stderr and "Error" not in result.stderr


def test_served_schema_describes_the_endpoints_and_validates(token_client):
    response = token_client.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    schema = response.json()
    validate_schema(schema)  # raises on anything that breaks the OpenAPI 3 specification
    assert schema["openapi"].startswith("3.")
    assert {"/api/me/", "/api/token/"} <= set(schema["paths"])
    assert set(schema["components"]["securitySchemes"]) == {"tokenAuth", "cookieAuth"}


@pytest.mark.parametrize(
    ("path", "method", "statuses"),
    [
        ("/api/me/", "get", ["200", "401", "403", "429"]),
        ("/api/me/", "patch", ["200", "400", "401", "403", "413", "415", "429"]),
        ("/api/token/", "post", ["200", "400", "413", "415", "429"]),  # no login needed: no 401 or 403
    ],
)
def test_schema_documents_the_json_errors_each_endpoint_can_answer(token_client, path, method, statuses):
    schema = token_client.get("/api/schema/", {"format": "json"}).json()
    responses = schema["paths"][path][method]["responses"]
    assert list(responses) == statuses
    errors = {status: answer["content"]["application/json"]["schema"]["$ref"] for status, answer in responses.items()}
    assert errors.pop("200") != "#/components/schemas/Error"
    assert errors.pop("400", "#/components/schemas/ValidationError") == "#/components/schemas/ValidationError"
    assert set(errors.values()) == {"#/components/schemas/Error"}


def test_interactive_docs_load_their_files_from_this_site_not_a_cdn(token_client):
    page = token_client.get("/api/docs/")
    assert page.status_code == 200
    assert '/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js"' in page.text
    assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}/", page.text, re.IGNORECASE), "a file from another site"


def test_options_on_the_docs_page_says_which_methods_it_answers(token_client):
    response = token_client.options("/api/docs/")
    assert response.status_code == 200 and response.content == b""
    assert response["Allow"] == "GET, HEAD, OPTIONS"


def test_in_production_strangers_get_401_from_the_schema_and_docs_and_users_get_them(anonymous, token_client):
    for path in ("/api/schema/?format=json", "/api/docs/"):
        assert anonymous.get(path).status_code == 401, f"{path} describes the API to strangers"
        assert token_client.get(path).status_code == 200
    refused = anonymous.get("/api/schema/", {"format": "json"})
    assert refused["WWW-Authenticate"] == "Token"
    assert refused.json() == NOT_LOGGED_IN


LOGGED_IN = ["rest_framework.permissions.IsAuthenticated"]  # the API's own permission
ANYONE = []  # no permission to check


@pytest.mark.parametrize(
    ("debug", "public", "permissions"),
    [("false", None, LOGGED_IN), ("true", None, ANYONE), ("false", "true", ANYONE), ("true", "false", LOGGED_IN)],
)
def test_api_docs_public_says_who_may_read_the_schema_and_docs(load_settings, debug, public, permissions):
    variables = {**PRODUCTION_ENV, "DEBUG": debug, **({"API_DOCS_PUBLIC": public} if public else {})}
    assert load_settings(**variables).SPECTACULAR_SETTINGS["SERVE_PERMISSIONS"] == permissions


# What a stranger gets from the schema and the docs page, in a project started with these variables.
STRANGER = """
from django.test import Client
stranger = Client(headers={"Host": "example.com", "X-Forwarded-Proto": "https"})
print([stranger.get(path).status_code for path in ("/api/schema/?format=json", "/api/docs/")])
"""


@pytest.mark.parametrize(("public", "statuses"), [("true", "[200, 200]"), ("false", "[401, 401]")])
def test_api_docs_public_opens_the_schema_and_docs_to_strangers_or_closes_them(build, public, statuses):
    checkout, _ = build  # collected static files: the docs page names them
    result = manage_py(checkout, "shell", "--no-imports", "-c", STRANGER, **PRODUCTION_ENV, API_DOCS_PUBLIC=public)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == statuses


def test_home_page_lists_the_api_as_an_installed_add_on(anonymous, db):
    assert '<a href="/api/docs/">REST API</a>' in anonymous.get("/").text
