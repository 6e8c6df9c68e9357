"""
Shared test set-up. pyproject.toml gives the run production settings (DEBUG off, a test-only
SECRET_KEY), whatever the shell exported; DATABASE_URL and REDIS_URL come from the environment.
The fixtures every test folder uses (client, manage, load_settings, build) are in the root conftest.py.
"""

import shutil
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
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
