"""
Shared test set-up. pyproject.toml gives the run production-like defaults (DEBUG off,
a test-only SECRET_KEY); real environment variables such as DATABASE_URL win.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_DIR = Path(__file__).resolve().parent.parent
# What Heroku's router adds: it ends TLS, says so in X-Forwarded-Proto and passes the Host on.
ROUTER_HEADERS = {"Host": "testserver", "X-Forwarded-Proto": "https"}
PRODUCTION_ENV = {
    "DEBUG": "false",
    "SECRET_KEY": "production-like-key-for-tests-0123456789abcdefghijklmnopqrstuvwxyz",
    "ALLOWED_HOSTS": "example.com",
}


@pytest.fixture(scope="session")
def fresh_checkout(tmp_path_factory):
    """A copy of the project as git would check it out: no .env, no database, no collected files."""
    target = tmp_path_factory.mktemp("checkout") / "project"
    ignore = shutil.ignore_patterns(".env", ".venv", ".git", "staticfiles", "db.sqlite3", "__pycache__")
    shutil.copytree(PROJECT_DIR, target, ignore=ignore)
    return target


@pytest.fixture
def manage(fresh_checkout):
    """Run `manage.py` in the fresh checkout with exactly the given environment variables."""

    def run(*args, **variables):
        env = {"PATH": os.environ["PATH"], "PYTHONDONTWRITEBYTECODE": "1", **variables}
        return subprocess.run(
            [sys.executable, "manage.py", *args], cwd=fresh_checkout, env=env, capture_output=True, text=True
        )

    return run
