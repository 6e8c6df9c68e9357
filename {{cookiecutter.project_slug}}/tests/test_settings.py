"""Settings come from the environment; a wrong or missing variable stops start-up with one clear line."""

import pytest

from .conftest import PRODUCTION_ENV

SHOW = "from django.conf import settings as s; print(s.DEBUG, s.ALLOWED_HOSTS, s.DATABASES['default']['ENGINE'])"


def test_production_environment_passes_the_deploy_check_with_zero_warnings(manage):
    result = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION_ENV)
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_debug_is_off_unless_asked_and_lists_are_stripped(manage):
    env = {**PRODUCTION_ENV, "ALLOWED_HOSTS": " a.example , b.example,"}
    del env["DEBUG"]
    result = manage("shell", "--no-imports", "-c", SHOW, **env)
    assert result.stdout.split("\n")[0] == "False ['a.example', 'b.example'] django.db.backends.sqlite3"


def test_dot_env_is_read_and_real_environment_variables_win(manage, fresh_checkout):
    (fresh_checkout / ".env").write_text("DEBUG=true\nALLOWED_HOSTS=from-dot-env.example\n")
    try:
        result = manage("shell", "--no-imports", "-c", SHOW, ALLOWED_HOSTS="from-environment.example")
    finally:
        (fresh_checkout / ".env").unlink()
    assert result.stdout.startswith("True ['from-environment.example']"), result.stderr


def test_postgres_urls_select_the_postgresql_engine(manage):
    database_url = "postgres://user:password@db.example:5432/app"
    result = manage("shell", "--no-imports", "-c", SHOW, **PRODUCTION_ENV, DATABASE_URL=database_url)
    assert result.stdout.split()[-1] == "django.db.backends.postgresql"


def test_redis_url_makes_redis_the_cache_and_tls_certificates_are_checked_unless_told(manage):
    show = "from django.conf import settings as s; print(s.CACHES['default'])"
    plain = manage("shell", "--no-imports", "-c", show, **PRODUCTION_ENV, REDIS_URL="redis://cache.example:6379/0")
    assert "RedisCache', 'LOCATION': 'redis://cache.example:6379/0', 'OPTIONS': {}}" in plain.stdout
    tls = {"REDIS_URL": "rediss://cache.example:6380", "REDIS_SSL_CERT_REQS": "none"}
    heroku = manage("shell", "--no-imports", "-c", show, **PRODUCTION_ENV, **tls)
    assert "'OPTIONS': {'ssl_cert_reqs': 'none'}}" in heroku.stdout


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"SECRET_KEY": ""}, "SECRET_KEY is not set"),
        ({"ALLOWED_HOSTS": ""}, "ALLOWED_HOSTS is not set"),
        ({"DEBUG": "ture"}, "DEBUG must be one of true/false"),
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
def test_bad_variables_stop_start_up_with_one_line_that_names_them(manage, variables, message):
    result = manage("check", **{**PRODUCTION_ENV, **variables})
    assert result.returncode == 1
    assert result.stderr.startswith(f"Configuration error: {message}")
    assert result.stderr.count("\n") == 1, "one line, no traceback"
    assert "s3cret" not in result.stderr + result.stdout, "values are never echoed"


def test_logs_go_to_stderr_with_debug_off_so_the_platform_keeps_500_tracebacks(manage):
    code = "import logging; logging.getLogger('django.request').error('500 boom'); logging.getLogger('x').info('hi')"
    result = manage("shell", "--no-imports", "-c", code, **PRODUCTION_ENV)
    assert result.stderr == "500 boom\nhi\n"


def test_collectstatic_runs_at_build_time_without_runtime_configuration(manage, fresh_checkout):
    result = manage("collectstatic", "--noinput")
    assert result.returncode == 0, result.stderr
    assert (fresh_checkout / "staticfiles" / "staticfiles.json").exists()
