"""
Settings come from the environment; a wrong or missing variable stops start-up with one clear line.

Most rules are checked in this process: load_settings(**variables) runs settings.py again with exactly
those variables. A few tests start manage.py itself, to check the wiring end to end.
"""

import json
import logging
import os
import re
import subprocess
import sys
import tempfile

import pytest
from django.utils.log import configure_logging

from {{ cookiecutter.project_slug }}.env import EnvVarError, development_key

from .conftest import PRODUCTION_ENV

SHOW_KEY = "from django.conf import settings; print(settings.SECRET_KEY)"


def test_production_environment_passes_the_deploy_check_with_zero_warnings(manage):
    result = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION_ENV)
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_debug_is_off_unless_asked_and_lists_are_stripped(load_settings):
    env = {**PRODUCTION_ENV, "ALLOWED_HOSTS": " a.example , b.example,"}
    del env["DEBUG"]
    settings = load_settings(**env)
    assert settings.DEBUG is False
    assert settings.ALLOWED_HOSTS == ["a.example", "b.example"]
    assert settings.DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3"
    assert settings.DATABASES["default"]["NAME"].endswith("db.sqlite3")


def test_development_needs_no_variable_but_debug(load_settings):
    settings = load_settings(DEBUG="true")
    assert settings.ALLOWED_HOSTS == ["localhost", "127.0.0.1", "[::1]"]
    assert settings.SECURE_SSL_REDIRECT is False and settings.SESSION_COOKIE_SECURE is False


def test_dot_env_is_read_and_real_environment_variables_win(load_settings, fresh_checkout):
    (fresh_checkout / ".env").write_text("DEBUG=true\nALLOWED_HOSTS=from-dot-env.example\nCONN_MAX_AGE=5\n")
    settings = load_settings(ALLOWED_HOSTS="from-environment.example")
    assert settings.DEBUG is True
    assert settings.ALLOWED_HOSTS == ["from-environment.example"]
    assert settings.DATABASES["default"]["CONN_MAX_AGE"] == 5


def test_postgres_urls_select_the_postgresql_engine(load_settings):
    database = load_settings(**PRODUCTION_ENV, DATABASE_URL="postgres://user:password@db.example:5432/app").DATABASES
    assert database["default"]["ENGINE"] == "django.db.backends.postgresql"
    assert (database["default"]["HOST"], database["default"]["PORT"], database["default"]["NAME"]) == (
        "db.example",
        5432,
        "app",
    )
    assert database["default"]["CONN_HEALTH_CHECKS"] is True


def test_redis_url_makes_redis_the_cache_and_tls_certificates_are_checked_unless_told(load_settings):
    plain = load_settings(**PRODUCTION_ENV, REDIS_URL="redis://cache.example:6379/0").CACHES["default"]
    assert re.fullmatch(r"[0-9a-f]{16}", plain.pop("KEY_PREFIX"))  # this site's own: see test_cache.py
    assert plain == {
        "BACKEND": "{{ cookiecutter.project_slug }}.cache.RedisCache",  # an outage empties it, never raises
        "LOCATION": "redis://cache.example:6379/0",
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
    }
    tls = load_settings(**PRODUCTION_ENV, REDIS_URL="rediss://cache.example:6380").CACHES["default"]
    assert tls["OPTIONS"]["ssl_cert_reqs"] == "required"
    heroku = {"REDIS_URL": "rediss://cache.example:6380", "REDIS_SSL_CERT_REQS": "none"}
    assert load_settings(**PRODUCTION_ENV, **heroku).CACHES["default"]["OPTIONS"]["ssl_cert_reqs"] == "none"
    assert load_settings(**PRODUCTION_ENV).CACHES["default"]["BACKEND"].endswith("LocMemCache")


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"SECRET_KEY": ""}, "SECRET_KEY is not set"),
        ({"ALLOWED_HOSTS": ""}, "ALLOWED_HOSTS is not set"),
        ({"DEBUG": "ture"}, "DEBUG must be one of true/false"),
        ({"BUILD_STEP": "yes-s3cret"}, "BUILD_STEP must be one of true/false"),
        ({"SECURE_SSL_REDIRECT": "maybe-s3cret"}, "SECURE_SSL_REDIRECT must be one of true/false"),
        ({"CONN_MAX_AGE": "a-minute"}, "CONN_MAX_AGE must be a whole number"),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR"),
        ({"REDIS_URL": "rediss://h", "REDIS_SSL_CERT_REQS": "off"}, "REDIS_SSL_CERT_REQS must be one of required"),
        ({"DATABASE_URL": "postgress://user:s3cret@db.example/app"}, "DATABASE_URL is not a supported database URL"),
        ({"DATABASE_URL": "mysql://user:s3cret@db.example/app"}, "DATABASE_URL is not a supported database URL"),
        ({"DATABASE_URL": "postgres://user:s3cret@db.example:port/app"}, "DATABASE_URL is not a supported"),
        ({"DATABASE_URL": "not a url s3cret"}, "DATABASE_URL is not a supported database URL"),
    ],
)
def test_bad_variables_stop_start_up_with_one_line_that_names_them(load_settings, variables, message):
    with pytest.raises(EnvVarError) as stopped:
        load_settings(**{**PRODUCTION_ENV, **variables})
    assert str(stopped.value).startswith(message)
    assert "\n" not in str(stopped.value), "one line"
    assert "s3cret" not in str(stopped.value), "values are never echoed"


def test_manage_py_prints_a_bad_variable_as_one_line_without_a_traceback(manage):
    result = manage("check", **{**PRODUCTION_ENV, "DATABASE_URL": "postgress://user:s3cret@db.example/app"})
    assert result.returncode == 1
    assert result.stderr == (
        "Configuration error: DATABASE_URL is not a supported database URL; use "
        "postgres://user:password@host:5432/name or sqlite:////absolute/path/db.sqlite3.\n"
    )
    assert "s3cret" not in result.stdout


def test_production_refuses_to_start_without_a_secret_key(manage):
    result = manage("check", DEBUG="false", ALLOWED_HOSTS="example.com")
    assert result.returncode == 1
    assert result.stderr == (
        "Configuration error: SECRET_KEY is not set; set it in the environment (or in .env for local work).\n"
    )


def test_development_processes_share_one_key_kept_in_the_checkout(fresh_checkout, load_settings):
    """gunicorn's workers, runserver's reloads and the real-time server must sign with the same key."""
    assert "SECRET_KEY=\n" in (fresh_checkout / ".env.example").read_text()  # what a fresh clone's .env says
    env = {"PATH": os.environ["PATH"], "PYTHONDONTWRITEBYTECODE": "1", "DEBUG": "true", "SECRET_KEY": ""}
    command = [sys.executable, "manage.py", "shell", "--no-imports", "-c", SHOW_KEY]
    started = [
        subprocess.Popen(command, cwd=fresh_checkout, env=env, stdout=subprocess.PIPE, text=True) for _ in range(2)
    ]  # at the same moment, as gunicorn's workers start
    keys = [process.communicate(timeout=60)[0].strip() for process in started]
    assert keys[0] == keys[1], "each process made up a key of its own"
    assert len(keys[0]) >= 50 and keys[0] == (fresh_checkout / ".dev-secret-key").read_text().strip()
    assert keys[0] == load_settings(DEBUG="true").SECRET_KEY, "the same key after a restart"
    assert ".dev-secret-key*" in (fresh_checkout / ".gitignore").read_text().splitlines()


def test_a_key_in_the_environment_wins_over_the_development_key(load_settings, fresh_checkout):
    environment = {"DEBUG": "true", "SECRET_KEY": "a-key-chosen-by-the-environment"}
    used = load_settings(**environment).SECRET_KEY
    assert used == environment["SECRET_KEY"]
    assert not (fresh_checkout / ".dev-secret-key").exists()


def test_processes_starting_together_agree_on_the_first_key_written(tmp_path, monkeypatch):
    path = tmp_path / ".dev-secret-key"
    link = os.link

    def another_process_links_first(source, target):
        target.write_text("the-other-process-key\n")
        link(source, target)

    monkeypatch.setattr(os, "link", another_process_links_first)
    assert development_key(path) == "the-other-process-key"
    assert [file.name for file in tmp_path.iterdir()] == [".dev-secret-key"], "no candidate file left behind"


def test_a_read_only_checkout_asks_for_a_secret_key_in_one_line(tmp_path, monkeypatch):
    def read_only(**where):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", read_only)  # as in a container image built read-only
    with pytest.raises(EnvVarError) as stopped:
        development_key(tmp_path / ".dev-secret-key")
    assert str(stopped.value) == (
        "SECRET_KEY is not set and .dev-secret-key could not be read or made (Permission denied); "
        "set SECRET_KEY in .env."
    )


def test_a_build_step_needs_no_runtime_configuration(load_settings):
    settings = load_settings(BUILD_STEP="true")
    assert settings.DEBUG is False and len(settings.SECRET_KEY) >= 50


def test_collectstatic_runs_at_build_time_without_runtime_configuration(build):
    checkout, result = build  # collectstatic as Heroku's buildpack runs it, with no config vars at all
    assert result.returncode == 0, result.stderr
    assert "static files copied" in result.stdout
    assert json.loads((checkout / "staticfiles" / "staticfiles.json").read_text())["paths"]["css/site.css"]
    assert not (checkout / ".dev-secret-key").exists(), "a build writes no key into the app"


@pytest.fixture
def stderr_log(settings, capsys):
    """stderr_log(debug): logging set up as Django sets it up at start-up, into the captured stderr."""

    def configure(debug):
        settings.DEBUG = debug  # Django's own console handler prints only with DEBUG on
        configure_logging(settings.LOGGING_CONFIG, settings.LOGGING)

    yield configure
    with capsys.disabled():
        configure_logging(settings.LOGGING_CONFIG, settings.LOGGING)  # back to the real stderr


def test_logs_go_to_stderr_with_debug_off_so_the_platform_keeps_500_tracebacks(stderr_log, capsys):
    stderr_log(debug=False)
    logging.getLogger("django.request").error("500 boom")
    logging.getLogger("x").info("hi")
    assert capsys.readouterr().err == "500 boom\nhi\n"


def test_each_log_record_prints_once_in_development(stderr_log, capsys):
    stderr_log(debug=True)
    logging.getLogger("django.request").warning("Not Found: /nowhere")
    logging.getLogger("django.security.csrf").warning("Forbidden (CSRF cookie not set.)")
    logging.getLogger("{{ cookiecutter.project_slug }}").info("mine")
    assert capsys.readouterr().err == "Not Found: /nowhere\nForbidden (CSRF cookie not set.)\nmine\n"
