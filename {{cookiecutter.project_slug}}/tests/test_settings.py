"""
Settings come from the environment; a wrong or missing variable stops start-up with one clear line.

Most rules are checked in this process: load_settings(**variables) runs settings.py again with exactly
those variables. A few tests start manage.py itself, to check the wiring end to end: each run is declared beside
its test (conftest.ManagePy), and they all start together as the session begins.
"""

import json
import logging
import os
import re

import pytest
from django.utils.log import configure_logging

from {{ cookiecutter.project_slug }}.env import EnvVarError

from conftest import PRODUCTION_ENV, ManagePy

DEPLOY_CHECK = ManagePy("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION_ENV)


def test_production_environment_passes_the_deploy_check_with_zero_warnings():
    result = DEPLOY_CHECK.result()
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
    (fresh_checkout / ".env").write_text("DEBUG=true\nALLOWED_HOSTS=from-dot-env.example\nSECURE_HSTS_SECONDS=5\n")
    settings = load_settings(ALLOWED_HOSTS="from-environment.example")
    assert settings.DEBUG is True
    assert settings.ALLOWED_HOSTS == ["from-environment.example"]
    assert settings.SECURE_HSTS_SECONDS == 5


def test_postgres_urls_select_the_postgresql_engine_with_a_connection_pool(load_settings):
    database = load_settings(**PRODUCTION_ENV, DATABASE_URL="postgres://user:password@db.example:5432/app").DATABASES
    assert database["default"]["ENGINE"] == "django.db.backends.postgresql"
    assert (database["default"]["HOST"], database["default"]["PORT"], database["default"]["NAME"]) == (
        "db.example",
        5432,
        "app",
    )
    assert database["default"]["CONN_HEALTH_CHECKS"] is True  # the pool checks a connection before lending it
    # gunicorn's gevent worker serves each client in a greenlet: a pool bounds the connections they open.
    assert database["default"]["OPTIONS"]["pool"] == {"min_size": 1, "max_size": 4, "timeout": 10}
    small = load_settings(**PRODUCTION_ENV, DATABASE_URL="postgres://db.example/app", DATABASE_POOL_SIZE="1")
    assert small.DATABASES["default"]["OPTIONS"]["pool"]["max_size"] == 1  # min_size 1: any size of 1 or more works
    none = load_settings(**PRODUCTION_ENV, DATABASE_URL="postgres://db.example/app", DATABASE_POOL_SIZE="0")
    assert "pool" not in none.DATABASES["default"].get("OPTIONS", {})  # as manage.py's commands run
    assert database["default"].get("CONN_MAX_AGE", 0) == 0  # Django refuses persistent connections with a pool


def test_redis_url_makes_redis_the_cache_and_tls_certificates_are_checked_unless_told(load_settings):
    plain = load_settings(**PRODUCTION_ENV, REDIS_URL="redis://cache.example:6379/0").CACHES["default"]
    assert re.fullmatch(r"[0-9a-f]{16}", plain.pop("KEY_PREFIX"))  # this site's own: see test_cache.py
    assert plain == {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": "redis://cache.example:6379/0",
        # An outage makes it an empty cache, never an error (tests/test_cache.py).
        "OPTIONS": {
            "IGNORE_EXCEPTIONS": True,
            "CONNECTION_POOL_KWARGS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        },
    }
    tls = load_settings(**PRODUCTION_ENV, REDIS_URL="rediss://cache.example:6380").CACHES["default"]
    assert tls["OPTIONS"]["CONNECTION_POOL_KWARGS"]["ssl_cert_reqs"] == "required"
    heroku = {"REDIS_URL": "rediss://cache.example:6380", "REDIS_SSL_CERT_REQS": "none"}
    assert (
        load_settings(**PRODUCTION_ENV, **heroku).CACHES["default"]["OPTIONS"]["CONNECTION_POOL_KWARGS"][
            "ssl_cert_reqs"
        ]
        == "none"
    )
    assert not hasattr(load_settings(**PRODUCTION_ENV), "CACHES")  # Django's default: memory of each process


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"SECRET_KEY": ""}, "SECRET_KEY is not set"),
        ({"ALLOWED_HOSTS": ""}, "ALLOWED_HOSTS is not set"),
        ({"DEBUG": "ture"}, "DEBUG must be one of true/false"),
        ({"SECURE_SSL_REDIRECT": "maybe-s3cret"}, "SECURE_SSL_REDIRECT must be one of true/false"),
        ({"SECURE_HSTS_SECONDS": "a-year"}, "SECURE_HSTS_SECONDS must be a whole number"),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR"),
        ({"REDIS_URL": "rediss://h", "REDIS_SSL_CERT_REQS": "off"}, "REDIS_SSL_CERT_REQS must be one of required"),
        (
            {"DATABASE_URL": "postgress://user:s3cret@db.example/app"},
            "DATABASE_URL must be a PostgreSQL or SQLite URL",
        ),
        ({"DATABASE_URL": "mysql://user:s3cret@db.example/app"}, "DATABASE_URL must be a PostgreSQL or SQLite URL"),
        (
            {"DATABASE_URL": "postgres://user:s3cret@db.example:port/app"},
            "DATABASE_URL must be a PostgreSQL or SQLite URL",
        ),
        ({"DATABASE_URL": "not a url s3cret"}, "DATABASE_URL must be a PostgreSQL or SQLite URL"),
    ],
)
def test_bad_variables_stop_start_up_with_one_line_that_names_them(load_settings, variables, message):
    with pytest.raises(EnvVarError) as stopped:
        load_settings(**{**PRODUCTION_ENV, **variables})
    assert str(stopped.value).startswith(f"Configuration error: {message}")
    assert "\n" not in str(stopped.value), "one line"
    assert "s3cret" not in str(stopped.value), "values are never echoed"


BAD_VARIABLE = ManagePy("check", **{**PRODUCTION_ENV, "DATABASE_URL": "postgress://user:s3cret@db.example/app"})


def test_manage_py_prints_a_bad_variable_as_one_line_without_a_traceback():
    result = BAD_VARIABLE.result()
    assert result.returncode == 1
    assert result.stderr == (
        "Configuration error: DATABASE_URL must be a PostgreSQL or SQLite URL; "
        "set e.g. DATABASE_URL=postgres://user:password@host:5432/name.\n"
    )
    assert "s3cret" not in result.stdout


NO_SECRET_KEY = ManagePy("check", DEBUG="false", ALLOWED_HOSTS="example.com")


def test_production_refuses_to_start_without_a_secret_key():
    result = NO_SECRET_KEY.result()
    assert result.returncode == 1
    assert result.stderr == (
        "Configuration error: SECRET_KEY is not set; set it in the environment (or in .env for local work).\n"
    )


DEVELOPMENT_KEY_DEPLOY_CHECK = ManagePy(
    "check", "--deploy", "--fail-level", "WARNING", **{**PRODUCTION_ENV, "SECRET_KEY": "django-insecure-" + "x" * 50}
)


def test_development_needs_no_secret_key_and_the_deploy_check_refuses_the_development_one(load_settings):
    """Like startproject's key: every process of a checkout signs alike (runserver's reloads, the real-time server),
    and the deploy check calls it insecure, so it never passes for a production key."""
    assert load_settings(DEBUG="true").SECRET_KEY.startswith("django-insecure-")
    chosen = "chosen-by-the-environment"
    assert chosen == load_settings(DEBUG="true", SECRET_KEY=chosen).SECRET_KEY
    result = DEVELOPMENT_KEY_DEPLOY_CHECK.result()  # the same key, in production
    assert result.returncode == 1 and "security.W009" in result.stderr


def test_collectstatic_runs_at_build_time_without_runtime_configuration(build):
    checkout, result = build  # collectstatic as Heroku's buildpack runs it, with no config vars at all
    assert result.returncode == 0, result.stderr
    assert "static files copied" in result.stdout
    assert json.loads((checkout / "staticfiles" / "staticfiles.json").read_text())["paths"]["css/site.css"]


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


# A database that does not answer, and what its one line names. PostgreSQL's missing database needs a server: the
# one DATABASE_URL names, when it names one (the template's suite runs these tests both ways).
SERVER = os.environ.get("DATABASE_URL", "") if os.environ.get("DATABASE_URL", "").startswith("postgres") else ""


def down(database_url, reason, id):
    """`check` and `migrate` with DATABASE_URL naming a database that does not answer: the same start (Python,
    Django, the settings), and only migrate connects."""
    environment = {**PRODUCTION_ENV, "DATABASE_URL": database_url}
    return pytest.param(ManagePy("check", **environment), ManagePy("migrate", **environment), reason, id=id)


DOWN = [
    down("sqlite:////no-such-folder/db.sqlite3", "unable to open database file", id="sqlite-cannot-open"),
    down("postgres://postgres@127.0.0.1:9/app", "Connection refused", id="postgresql-refused"),
] + [
    down(
        SERVER.rsplit("/", 1)[0] + "/no_such_database_here",
        'database "no_such_database_here" does not exist',
        id="postgresql-no-such-database",
    )
] * bool(SERVER)


@pytest.mark.parametrize(("check", "migrate", "reason"), DOWN)
def test_manage_py_prints_a_database_that_does_not_answer_as_one_line_at_once(load_settings, check, migrate, reason):
    """One line naming the reason and the fix, nothing else: not the web process's pool retrying for its timeout
    (psycopg-pool's warning each attempt, then only "couldn't get a connection after 10.00 sec")."""
    checked, result = check.result(), migrate.result()
    assert checked.returncode == 0, checked.stderr
    assert result.returncode == 1
    line = result.stderr.removesuffix("\n")
    assert "\n" not in line and line.startswith("Database error: ") and reason in line, result.stderr
    assert line.endswith("; start it, create the database, or fix DATABASE_URL."), result.stderr
    # The web process's pool waits its whole timeout before it gives up; the command, no longer than it takes to
    # start (plus half the timeout: generous, as a busy machine slows one start more than another).
    pooled = load_settings(**PRODUCTION_ENV, DATABASE_URL="postgres://db.example/app").DATABASES["default"]
    took, start_up = result.seconds, checked.seconds
    assert took - start_up < pooled["OPTIONS"]["pool"]["timeout"] / 2, f"{took:.1f} s, {start_up:.1f} s to start"


UNMIGRATED = ManagePy(
    "shell",
    "-c",
    "from django.contrib.auth.models import User; User.objects.count()",
    **PRODUCTION_ENV,
    DATABASE_URL="sqlite:///{checkout}/db.sqlite3",
)


def test_manage_py_leaves_an_error_in_a_query_to_django():
    """A database that answers is not down: a query on a table migrate has not made keeps Django's own error."""
    result = UNMIGRATED.result()
    assert result.returncode == 1
    assert "no such table: auth_user" in result.stderr and "Database error:" not in result.stderr
