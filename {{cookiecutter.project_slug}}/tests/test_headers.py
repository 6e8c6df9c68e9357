"""
The security headers every response carries, and what they promise the browser.

Content-Security-Policy: nothing loads or runs unless the policy names it; inline scripts
and styles run only with the response's nonce. The others: Permissions-Policy,
Strict-Transport-Security, Cross-Origin-Opener-Policy, Referrer-Policy, nosniff.
"""

from html.parser import HTMLParser

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.test import Client

UNSAFE = {"'unsafe-inline'", "'unsafe-eval'", "'unsafe-hashes'", "*", "data:", "http:", "https:"}
# Executable script types; type="application/json" (json_script) is data, which CSP does not check.
SCRIPT_TYPES = {"", "text/javascript", "module", "application/javascript"}


def policy(response):
    """The Content-Security-Policy header as {directive: [sources]}."""
    directives = [part.split() for part in response["Content-Security-Policy"].split(";")]
    return {name: sources for name, *sources in directives}


class InlineCode(HTMLParser):
    """Collects the nonces of inline <script>/<style> elements, and inline style or on* attributes."""

    def __init__(self):
        super().__init__()
        self.nonces, self.attributes = [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "style" or (tag == "script" and "src" not in attrs and attrs.get("type", "") in SCRIPT_TYPES):
            self.nonces.append(attrs.get("nonce"))
        self.attributes += [f"<{tag} {name}>" for name in attrs if name == "style" or name.startswith("on")]


def inline_code(response):
    parser = InlineCode()
    parser.feed(response.text)
    return parser


@pytest.fixture
def pages(client, db):
    """Every HTML page a visitor reaches from the home page, the admin's (logged in) and a 404."""
    addons = [config.home_url for config in apps.get_app_configs() if getattr(config, "home_url", None)]
    paths = ["/", "/admin/login/", "/no-such-page/", *addons]
    admin = get_user_model().objects.create_superuser("admin", "admin@example.com", "a-test-password-123")
    responses = {path: client.get(path) for path in paths}
    client.force_login(admin)
    responses["/admin/ (logged in)"] = client.get("/admin/")
    return responses


def test_every_page_has_a_strict_content_security_policy(pages):
    for path, response in pages.items():
        csp = policy(response)
        assert csp["default-src"] == ["'none'"], path  # anything not named below is refused
        for directive in ("script-src", "style-src"):  # this site's files, and inline code with the nonce
            assert csp[directive][0] == "'self'" and all(s.startswith("'nonce-") for s in csp[directive][1:]), path
        assert csp["frame-ancestors"] == ["'none'"], path  # no framing: the modern X-Frame-Options
        assert csp["base-uri"] == ["'none'"], path
        assert csp.get("object-src", csp["default-src"]) == ["'none'"], path  # no plugins: default-src's
        assert csp["form-action"] == ["'self'"], path
        assert response["Cross-Origin-Opener-Policy"] == "same-origin", path  # no cross-site window handles
        for directive in ("script-src", "style-src", "connect-src"):
            assert not UNSAFE & set(csp[directive]), f"{path}: {directive} {csp[directive]}"


def test_inline_scripts_and_styles_run_only_with_this_responses_nonce(pages):
    for path, response in pages.items():
        # The header names a nonce only when the page used it.
        nonces = {source for source in policy(response)["script-src"] if source.startswith("'nonce-")}
        found = inline_code(response)
        assert {f"'nonce-{value}'" for value in found.nonces} <= nonces, f"{path}: {found.nonces} vs {nonces}"
        assert not found.attributes, f"{path}: inline style or event handlers are refused: {found.attributes}"


def test_each_response_gets_a_fresh_nonce(client):
    first, second = (policy(client.get("/admin/login/"))["script-src"] for _ in range(2))
    assert first[1].startswith("'nonce-") and first != second


def test_json_answers_carry_the_policy_too(client, db):
    response = client.get("/healthz")
    assert policy(response)["default-src"] == ["'none'"]


def test_powerful_features_are_denied_and_other_sites_cannot_embed_or_open_us(client):
    """django-permissions-policy sends Permissions-Policy from settings.PERMISSIONS_POLICY."""
    response = client.get("/")
    features = dict(item.strip().split("=") for item in response["Permissions-Policy"].split(","))
    for feature in ("camera", "microphone", "geolocation", "payment", "usb"):
        assert features[feature] == "()", feature  # an empty allowlist: not even this site
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Content-Type-Options"] == "nosniff"


def test_https_answers_pin_https_for_a_year_and_plain_http_ones_do_not(client, db):
    assert client.get("/")["Strict-Transport-Security"] == "max-age=31536000"  # no subdomains, no preload
    assert "Strict-Transport-Security" not in Client().get("/healthz")  # browsers ignore it over HTTP
