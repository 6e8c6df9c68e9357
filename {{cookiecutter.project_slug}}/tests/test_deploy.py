"""The deploy files say what the platform will run, and say it consistently."""

import json
import re
import runpy
import subprocess
import sys
import tomllib

import gevent

from conftest import PROJECT_DIR


def test_procfile_migrates_on_release_and_serves_with_gunicorn():
    processes = dict(line.split(": ", 1) for line in (PROJECT_DIR / "Procfile").read_text().splitlines() if line)
    assert processes["release"] == "python manage.py migrate --noinput"
    assert "gunicorn {{ cookiecutter.project_slug }}.wsgi" in processes["web"]


def test_gunicorn_fits_herokus_router(monkeypatch):
    monkeypatch.setenv("PORT", "5123")
    monkeypatch.setenv("WEB_CONCURRENCY", "3")
    config = runpy.run_path(str(PROJECT_DIR / "gunicorn.conf.py"))
    assert config["bind"] in {"[::]:5123", "0.0.0.0:5123"} and config["workers"] == 3  # [::]: IPv6 and IPv4
    assert config["worker_class"] == "gevent"  # slow clients cost a greenlet each, not a thread (test_server.py)
    assert config["timeout"] < 30 and config["graceful_timeout"] < 30  # the router gives up at 30 s
    assert config["keepalive"] > 90  # the router keeps idle connections for 90 s
    assert config["accesslog"] == "-" and "request_id=%({x-request-id}i)s" in config["access_log_format"]
    assert config["control_socket_disable"] is True


def test_each_request_ends_by_giving_the_workers_other_clients_a_turn():
    """gevent serves a connection's next request at once when it is already there, so a busy client could keep a
    worker for seconds (wrk, 10 connections: p99 0.9 s without the hook, 40 ms with it; docs/performance.md)."""
    post_request = runpy.run_path(str(PROJECT_DIR / "gunicorn.conf.py"))["post_request"]
    turns = []
    gevent.spawn(turns.append, "another client")
    post_request(None, None, {}, None)
    assert turns == ["another client"]


def test_a_bad_worker_count_stops_gunicorn_with_one_clear_line():
    result = subprocess.run(
        [sys.executable, "gunicorn.conf.py"], cwd=PROJECT_DIR, env={"WEB_CONCURRENCY": "lots"}, capture_output=True
    )
    assert result.returncode == 1
    assert result.stderr.decode() == "WEB_CONCURRENCY must be a whole number above 0; set e.g. WEB_CONCURRENCY=2.\n"


{% if cookiecutter.package_manager == "uv" %}
def test_requirements_are_pinned_exactly():
    pyproject = tomllib.loads((PROJECT_DIR / "pyproject.toml").read_text())
    groups = {"dependencies": pyproject["project"]["dependencies"], **pyproject["dependency-groups"]}
    for name, pins in groups.items():
        for pin in pins:
            assert re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[0-9][0-9A-Za-z.]*", pin), f"{name}: {pin}"
{% else %}
def test_requirements_are_pinned_exactly():
    for name in ("requirements.txt", "requirements-dev.txt"):
        for line in (PROJECT_DIR / name).read_text().splitlines():
            if line and not line.startswith(("#", "-r ")):
                assert re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[0-9][0-9A-Za-z.]*", line), f"{name}: {line}"
{% endif %}


def test_the_buildpack_finds_exactly_one_package_manager_file():
    # Heroku's Python buildpack stops a build that has two (say requirements.txt beside uv.lock).
    files = ("requirements.txt", "Pipfile", "poetry.lock", "uv.lock")
    found = [name for name in files if (PROJECT_DIR / name).exists()]
    assert found == ["{{ 'uv.lock' if cookiecutter.package_manager == 'uv' else 'requirements.txt' }}"]


def test_python_version_is_a_minor_version_for_the_buildpack_that_the_project_supports():
    # The buildpack takes 3.N (its latest patch release, with security fixes) or a pinned 3.N.M; 3.N it is.
    version = re.fullmatch(r"3\.([1-9][0-9]*)\n", (PROJECT_DIR / ".python-version").read_text())
    assert version, ".python-version must be a minor version such as 3.13"
    pyproject = tomllib.loads((PROJECT_DIR / "pyproject.toml").read_text())
    oldest = int(pyproject["project"]["requires-python"].removeprefix(">=3."))
    assert int(version[1]) >= oldest, "deploys would run a Python that requires-python excludes"
    assert pyproject["tool"]["ruff"]["target-version"] == f"py3{oldest}", "ruff checks for the oldest one"


def test_app_json_declares_every_variable_the_settings_read():
    declared = set(json.loads((PROJECT_DIR / "app.json").read_text())["env"])
    example = (PROJECT_DIR / ".env.example").read_text()
    documented = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", example, flags=re.MULTILINE))
    # Heroku sets PORT, and its add-ons set the URLs.
    assert documented - {"PORT", "DATABASE_URL", "REDIS_URL"} == declared
