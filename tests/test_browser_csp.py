"""
The Content-Security-Policy in a real browser: every page of every add-on combination, served as
deployed (DEBUG off, behind a TLS router: tests/tls_router.py), in headless Chromium that records
every `securitypolicyviolation` event, console error or warning and uncaught exception. There must be
none, and each page must still do its job: the admin logs in, the API docs render the schema's
operations, the real-time demo sends and receives a message. DRF's browsable API exists only with
DEBUG on, so one development run visits it too.

Needs /usr/bin/chromium, nginx and (real-time) REDIS_URL; skips loudly without them, fails instead
when REQUIRE_SERVICES=1.
"""

import contextlib
from pathlib import Path

import pytest

from .conftest import ADDON_COMBINATIONS, BOARD, combination_id, require
from .test_realtime_browser import CHROMIUM, CHROMIUM_FLAGS
from .tls_router import SUPERUSER, production_site

# Runs in every document before its own scripts, and reports to Python whatever the policy refused.
RECORD_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => window.reportViolation(
    `${event.effectiveDirective} refused ${event.blockedURI} `
    + `(${event.sourceFile || document.URL}:${event.lineNumber}) ${event.sample}`));
"""

SITES = [
    *[pytest.param((answers, False), id=combination_id(answers)) for answers in ADDON_COMBINATIONS],
    pytest.param((BOARD, False), id=combination_id(BOARD)),
    pytest.param(({**ADDON_COMBINATIONS[0], "use_rest": True}, True), id="rest-development"),
]


@pytest.fixture(scope="module", params=SITES)
def site(request, bake, tmp_path_factory):
    require(Path(CHROMIUM).exists(), f"{CHROMIUM} is missing (apt-get install chromium)")
    answers, debug = request.param
    with production_site(bake(**answers), tmp_path_factory.mktemp("site"), debug=debug) as router:
        yield answers, debug, router


@pytest.fixture(scope="module")
def chromium():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def browser(chromium):
    """A fresh browser profile whose `problems` list collects what the pages' console and policy report."""
    context = chromium.new_context(ignore_https_errors=True)  # the router's certificate is self-signed
    context.problems = []
    context.expose_binding("reportViolation", lambda source, text: context.problems.append(f"CSP: {text}"))
    context.add_init_script(RECORD_VIOLATIONS)

    def console(message):
        if message.type in ("error", "warning"):
            context.problems.append(f"console {message.type} on {message.page.url}: {message.text}")

    context.on("console", console)
    context.on("weberror", lambda error: context.problems.append(f"uncaught: {error.error}"))
    yield context
    context.close()


def visit(page, url):
    response = page.goto(url)
    assert response.ok, f"{url}: HTTP {response.status}"
    page.wait_for_load_state("load")


@contextlib.contextmanager
def explained(problems):
    """A page that stops doing its job fails with what the browser reported, the likely cause."""
    try:
        yield
    except Exception as error:
        report = [f"{type(error).__name__}: {error}", "The browser reported:", *problems]
        raise AssertionError("\n".join(report)) from error


def test_every_page_works_under_the_policy_with_zero_violations(site, browser):
    from playwright.sync_api import expect

    answers, debug, router = site
    url, page, problems = router.https_url, browser.new_page(), browser.problems
    expect.set_options(timeout=30_000)  # an upper bound for slow, shared machines, not a measurement

    with explained(problems):
        visit(page, f"{url}/")
        expect(page.locator("p.ok")).to_contain_text("It works")

        visit(page, f"{url}/admin/login/?next=/admin/")
        page.fill("input[name=username]", SUPERUSER[0])
        page.fill("input[name=password]", SUPERUSER[1])
        page.click("input[type=submit]")
        expect(page.locator("#site-name")).to_contain_text("administration")
        expect(page).to_have_url(f"{url}/admin/")
        visit(page, f"{url}/admin/auth/user/")
        expect(page.locator("#result_list")).to_contain_text(SUPERUSER[0])

        if answers["use_rest"]:
            with page.expect_response(lambda response: "/api/schema/" in response.url) as schema:
                visit(page, f"{url}/api/docs/")
            assert schema.value.ok
            # Swagger UI drew the schema's operations (it fetched and parsed it under the policy).
            expect(page.locator(".opblock-summary-path").first).to_be_visible()
            assert "/api/me/" in page.locator(".opblock-summary-path").all_inner_texts()
            if debug:  # DRF's browsable API, development only
                visit(page, f"{url}/api/me/")
                expect(page.locator(".response-info")).to_contain_text(f'"username": "{SUPERUSER[0]}"')

        if answers["use_realtime"]:
            visit(page, f"{url}/realtime/")
            expect(page.locator("#status")).to_have_text("live")  # the socket is open
            page.fill("#send input[name=text]", "sent under the policy")
            page.click("#send button")
            # Only the socket adds to the list after the page has loaded: this arrived live.
            expect(page.locator("#messages")).to_contain_text(f"{SUPERUSER[0]}: sent under the policy")

        if answers.get("example_app") == "board":
            visit(page, f"{url}/board/")
            page.wait_for_load_state("networkidle")

    assert problems == [], "\n".join(problems)

    # The recorder itself works: an inline script without the nonce is refused, and reported.
    page.evaluate("""() => {
        const script = document.createElement("script");
        script.textContent = "window.injected = true";
        document.body.append(script);
    }""")
    page.wait_for_function("() => document.readyState === 'complete'")  # lets the report arrive
    assert any(problem.startswith("CSP: script-src-elem refused inline") for problem in problems), problems
    assert page.evaluate("window.injected") is None
