"""
Test set-up shared by every test folder: project-level tests in tests/, each app's in <app>/tests/.
Test modules import the constants below with `from conftest import ...` (no test package imports another's).
pyproject.toml gives every run production settings (DEBUG off, a test-only SECRET_KEY), whatever the shell
exported; DATABASE_URL and REDIS_URL come from the environment.
"""

import importlib.util
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from unittest import mock

import pytest
from django.test import Client

PACKAGE = "{{ cookiecutter.project_slug }}"
PROJECT_DIR = Path(__file__).resolve().parent
# What Heroku's router adds: it ends TLS, says so in X-Forwarded-Proto and passes the Host on.
ROUTER_HEADERS = {"Host": "testserver", "X-Forwarded-Proto": "https"}
PRODUCTION_ENV = {
    "DEBUG": "false",
    "SECRET_KEY": "production-like-key-for-tests-0123456789abcdefghijklmnopqrstuvwxyz",
    "ALLOWED_HOSTS": "example.com",
}
# What is never committed: a copy of the project without these is what git would check out.
LOCAL_FILES = [".env", ".venv", ".git", "staticfiles", "db.sqlite3", "__pycache__", "*.log"]


def copy_checkout(target):
    """Copy the project to target as git would check it out: no .env, no database, no collected files."""
    shutil.copytree(PROJECT_DIR, target, ignore=shutil.ignore_patterns(*LOCAL_FILES))
    return target


@pytest.fixture
def client():
    """A browser that reaches the project through Heroku's router over HTTPS."""
    return Client(headers=ROUTER_HEADERS)


@pytest.fixture(autouse=True)
def _static_without_collectstatic(settings):
    """Pages resolve static URLs without a manifest; tests/test_static.py checks the real storage."""
    plain = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
    settings.STORAGES = {**settings.STORAGES, "staticfiles": plain}


@pytest.fixture(autouse=True)
def _cache_entries_of_its_own(settings):
    """Each test's cache keys carry a prefix of their own: on a Redis that `runserver` shares, neither sees the
    other's entries (the API's throttle counts among them), nor does one test see another's."""
    prefix = f"test-{uuid.uuid4().hex}"
    settings.CACHES = {alias: {**config, "KEY_PREFIX": prefix} for alias, config in settings.CACHES.items()}


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Test users' passwords hash in microseconds: the real hasher takes a second per login on purpose."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def manage_py(checkout, *args, **variables):
    """Run `manage.py` in a new process in checkout, with exactly these environment variables (and PATH)."""
    env = {"PATH": os.environ["PATH"], "PYTHONDONTWRITEBYTECODE": "1", **variables}
    command = [sys.executable, "manage.py", *args]
    return subprocess.run(command, cwd=checkout, env=env, capture_output=True, text=True)  # noqa: S603


@pytest.fixture
def fresh_checkout(tmp_path):
    """A copy of the project as git would check it out: no .env, no database, no collected files."""
    return copy_checkout(tmp_path / "checkout")


@pytest.fixture
def manage(fresh_checkout):
    """manage(*args, **variables): run `manage.py` in a new process in the fresh checkout, with exactly these
    environment variables: neither the shell's nor a developer's .env leaks in."""
    return lambda *args, **variables: manage_py(fresh_checkout, *args, **variables)


@pytest.fixture(scope="session")
def build(tmp_path_factory):
    """A fresh checkout after the build step, run once: `python manage.py collectstatic --noinput` as Heroku's
    buildpack runs it, with no configuration at all (config vars may not exist yet). Returns (folder, result)."""
    checkout = copy_checkout(tmp_path_factory.mktemp("build") / "checkout")
    return checkout, manage_py(checkout, "collectstatic", "--noinput")


@pytest.fixture
def load_settings(fresh_checkout):
    """load_settings(**variables): the settings module as the fresh checkout computes it from exactly these
    environment variables, run again in this process (milliseconds, not a new process). The settings this
    test run uses stay as they are."""

    def load(**variables):
        spec = importlib.util.spec_from_file_location(
            f"{PACKAGE}.settings_under_test", fresh_checkout / PACKAGE / "settings.py"
        )
        module = importlib.util.module_from_spec(spec)
        with mock.patch.dict(os.environ, variables, clear=True):
            spec.loader.exec_module(module)
        return module

    return load
