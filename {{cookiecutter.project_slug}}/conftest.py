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
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
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
# Read once, here: load_settings() empties os.environ for a moment while background runs start on other threads.
PATH = os.environ["PATH"]
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
    env = {"PATH": PATH, "PYTHONDONTWRITEBYTECODE": "1", **variables}
    command = [sys.executable, "manage.py", *args]
    return subprocess.run(command, cwd=checkout, env=env, capture_output=True, text=True)  # noqa: S603


class Background:
    """Something a test needs that takes a while to get ready (a process to start), declared beside the test: as a
    module-level name or as a parameter of the test. Everything the selected tests declare starts as the session
    begins, while the other tests go on, and stops when it ends; the test waits only for what is not ready yet."""

    def start(self, pool, folder):
        """Start, in folder (a new one), on pool (threads) if it must wait for something."""

    def stop(self):
        """Stop what start() started, if it is still going."""


class Run(Background):
    """A command run in a fresh checkout with exactly these environment variables (and PATH), on the cores this
    process leaves free; result() waits for its end. "{checkout}" in a variable's value is the checkout's folder."""

    def __init__(self, command, **variables):
        self.command, self.variables, self.future = command, variables, None

    def __repr__(self):
        return " ".join(self.command)

    def start(self, pool, folder):
        self.future = pool.submit(self.run, folder)

    def run(self, folder):
        checkout = copy_checkout(folder / "checkout")
        variables = {name: value.replace("{checkout}", str(checkout)) for name, value in self.variables.items()}
        env = {"PATH": PATH, "PYTHONDONTWRITEBYTECODE": "1", **variables}
        started = time.monotonic()
        result = subprocess.run(self.command, cwd=checkout, env=env, capture_output=True, text=True, timeout=120)  # noqa: S603
        result.seconds = time.monotonic() - started  # from its start to its end, whatever ran beside it
        result.checkout = checkout
        return result

    def result(self):
        """The finished run: returncode, stdout, stderr, seconds (how long it took) and checkout (its folder)."""
        assert self.future, f"{self!r} was not started: declare it at module level or as a test's parameter"
        return self.future.result()


class ManagePy(Run):
    """`python manage.py *args` as a Run."""

    def __init__(self, *args, **variables):
        super().__init__([sys.executable, "manage.py", *args], **variables)


# The build step, run once: `python manage.py collectstatic --noinput` as Heroku's buildpack runs it, with no
# configuration at all (config vars may not exist yet).
BUILD = ManagePy("collectstatic", "--noinput")


def declared(items):
    """What these tests declare to start in the background: their modules', their parameters' and the build, in
    test order."""
    runs = {}
    for item in items:
        module = getattr(item, "module", None)
        values = [*vars(module).values()] if module else []
        values += getattr(getattr(item, "callspec", None), "params", {}).values()
        values += [BUILD] * ("build" in getattr(item, "fixturenames", ()))
        runs.update((id(value), value) for value in values if isinstance(value, Background))
    return runs.values()


@pytest.fixture(scope="session", autouse=True)
def _background_starts_with_the_session(request, tmp_path_factory):
    """Processes take half a second or more each to start Python and Django: beside the tests that run in this
    process, they take a share of the session's time instead of adding theirs up."""
    pool = ThreadPoolExecutor(max_workers=max(1, (os.cpu_count() or 1) - 1))  # a core for this process's tests
    started = list(declared(request.session.items))
    for thing in started:
        thing.start(pool, tmp_path_factory.mktemp("background"))
    yield
    pool.shutdown(cancel_futures=True)
    for thing in started:
        thing.stop()


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
def build():
    """A fresh checkout after the build step (BUILD). Returns (folder, result)."""
    return BUILD.result().checkout, BUILD.result()


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
