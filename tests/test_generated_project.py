"""Each option combination, run as a user would: its own tests, Django's checks, and a real gunicorn boot."""

import json
import os
import urllib.request

import psycopg
import pytest

from .conftest import (
    ADDON_COMBINATIONS,
    BOARD,
    PRODUCTION_ENV,
    TEMPLATE,
    ProcfileProcess,
    combination_id,
    combination_param,
    fresh_database,
    procfile,
    project_venv,
    run,
)

HTTPS = {"X-Forwarded-Proto": "https"}


def own_suite(path, bin_dir, **env):
    """Run the project's own pytest with this run's Redis and its promise that services are there."""
    passed = {name: os.environ[name] for name in ("REDIS_URL", "REQUIRE_SERVICES") if name in os.environ}
    result = run(["pytest", "-q"], path, bin_dir, {**passed, **env})
    assert " passed" in result.stdout and " failed" not in result.stdout
    if os.environ.get("REQUIRE_SERVICES") == "1":
        assert " skipped" not in result.stdout, result.stdout


@pytest.fixture(params=[combination_param(answers) for answers in [*ADDON_COMBINATIONS, BOARD]])
def project(request, bake):
    """(answers, project folder, venv bin folder) for each combination of add-ons, and the example app.

    The other options only add .github/ or .git/ (tests/test_bake.py proves it for all 16
    combinations), so these five cover every distinct project that can be generated.
    """
    answers = request.param
    path = bake(**answers)
    return answers, path, project_venv(path)


def test_its_own_test_suite_passes_on_sqlite(project):
    _, path, bin_dir = project
    own_suite(path, bin_dir)


def test_its_own_test_suite_passes_on_postgresql(project):
    answers, path, bin_dir = project
    database_url = fresh_database(f"ldj_{combination_id(answers)}".replace("-", "_"))
    own_suite(path, bin_dir, DATABASE_URL=database_url)


def test_djangos_checks_pass_with_production_settings(project):
    _, path, bin_dir = project
    deploy = run(["python", "manage.py", "check", "--deploy", "--fail-level", "WARNING"], path, bin_dir, PRODUCTION_ENV)
    assert "System check identified no issues" in deploy.stdout
    migrations = run(["python", "manage.py", "makemigrations", "--check", "--dry-run"], path, bin_dir, PRODUCTION_ENV)
    assert "No changes detected" in migrations.stdout


def test_the_procfile_web_command_serves_the_app_and_hashed_static_files(project):
    _, path, bin_dir = project
    # The buildpack's build step: collectstatic with no runtime configuration at all.
    run(["python", "manage.py", "collectstatic", "--noinput"], path, bin_dir)
    web = ProcfileProcess(path, "web", bin_dir, {**PRODUCTION_ENV, "WEB_CONCURRENCY": "1"})
    try:
        health = urllib.request.urlopen(f"{web.url}/healthz")  # plain HTTP: health checks are exempt
        assert health.status == 200 and json.load(health) == {"status": "ok", "database": "ok"}
        home = urllib.request.urlopen(urllib.request.Request(f"{web.url}/", headers=HTTPS))
        assert home.status == 200 and "It works" in home.read().decode()
        manifest = json.loads((path / "staticfiles" / "staticfiles.json").read_text())["paths"]
        css_url = f"{web.url}/static/{manifest['css/site.css']}"
        css = urllib.request.urlopen(urllib.request.Request(css_url, headers=HTTPS))
        assert css.status == 200
        assert css.headers["Cache-Control"] == "max-age=315360000, public, immutable"
    finally:
        assert web.stop() == 0, web.output()
    assert '"GET /healthz HTTP/1.1" 200' in web.output()  # gunicorn's access log goes to stdout


def test_the_procfile_release_command_migrates_postgresql(project):
    answers, path, bin_dir = project
    database_url = fresh_database(f"ldj_release_{combination_id(answers)}".replace("-", "_"))
    run(["bash", "-c", procfile(path)["release"]], path, bin_dir, {**PRODUCTION_ENV, "DATABASE_URL": database_url})
    with psycopg.connect(database_url) as connection:
        applied = connection.execute("SELECT app, name FROM django_migrations").fetchall()
    assert ("auth", "0001_initial") in applied and ("sessions", "0001_initial") in applied


@pytest.mark.parametrize("version", json.loads((TEMPLATE / "cookiecutter.json").read_text())["python_version"])
def test_the_default_project_passes_on_each_offered_python(bake, version):
    path = bake(python_version=version)
    assert (path / ".python-version").read_text().strip() == version
    bin_dir = project_venv(path)
    python = run(["python", "-c", "import sys; print(*sys.version_info[:2], sep='.')"], path, bin_dir)
    assert python.stdout.strip() == version
    own_suite(path, bin_dir)
