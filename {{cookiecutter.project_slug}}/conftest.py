"""Test set-up shared by every test folder (tests/ and the add-ons' own tests)."""

import importlib.util
import os
import shutil
import subprocess
import sys
from unittest import mock

import pytest
from django.test import Client

from tests.conftest import PROJECT_DIR, ROUTER_HEADERS

PACKAGE = "{{ cookiecutter.project_slug }}"


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
def _fast_password_hashing(settings):
    """Test users' passwords hash in microseconds: the real hasher takes a second per login on purpose."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def fresh_checkout(tmp_path):
    """A copy of the project as git would check it out: no .env, no key file, no database, no collected files."""
    target = tmp_path / "checkout"
    local = [".env", ".dev-secret-key*", ".venv", ".git", "staticfiles", "db.sqlite3", "__pycache__", "*.log"]
    shutil.copytree(PROJECT_DIR, target, ignore=shutil.ignore_patterns(*local))
    return target


@pytest.fixture
def manage(fresh_checkout):
    """manage(*args, **variables): run `manage.py` in a new process in the fresh checkout, with exactly these
    environment variables (and PATH): neither the shell's nor a developer's .env leaks in."""

    def run(*args, **variables):
        env = {"PATH": os.environ["PATH"], "PYTHONDONTWRITEBYTECODE": "1", **variables}
        command = [sys.executable, "manage.py", *args]
        return subprocess.run(command, cwd=fresh_checkout, env=env, capture_output=True, text=True)  # noqa: S603

    return run


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
