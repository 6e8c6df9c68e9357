"""
Environment variables, read strictly. django-environ reads .env and parses DATABASE_URL (it alone would read
DEBUG=ture as false); these getters stop start-up with one line that names the variable and the fix, and never
show its value, which may be a secret. https://django-environ.readthedocs.io/
"""

import os
{% if cookiecutter.use_rest %}
import re
{% endif %}
import warnings

import environ
from django.core.exceptions import ImproperlyConfigured

REQUIRED = object()
BOOLEANS = {"true": True, "1": True, "yes": True, "on": True, "false": False, "0": False, "no": False, "off": False}


class EnvVarError(ImproperlyConfigured):
    """A variable is missing or malformed; manage.py prints the message as one line."""


def read_env_file(path):
    environ.Env.read_env(path, overwrite=False)  # real environment variables win over the file


def get(name, default=REQUIRED, parse=str, rule="", example=None):
    """The variable as parse() reads it; default when it is unset or empty."""
    value = os.environ.get(name, "").strip()
    if not value and default is REQUIRED:
        raise EnvVarError(f"{name} is not set; set it in the environment (or in .env for local work).")
    try:
        return parse(value) if value else default
    except (ValueError, KeyError, TypeError):
        raise EnvVarError(f"{name} must be {rule}; set e.g. {name}={example or default}.") from None


def boolean(name, default):
    rule = "one of true/false, 1/0, yes/no, on/off"
    return get(name, default, lambda value: BOOLEANS[value.lower()], rule, str(default).lower())


def number(name, default):
    return get(name, default, int, "a whole number")


def names(name, default=REQUIRED):
    return get(name, default, lambda value: [item.strip() for item in value.split(",") if item.strip()])


def choice(name, choices, default):
    return get(name, default, lambda value: choices[choices.index(value)], f"one of {', '.join(choices)}")


def database(name, default):
    """A DATABASES entry from a PostgreSQL or SQLite URL."""

    def parse(url):
        with warnings.catch_warnings(action="ignore"):  # django-environ's warning can show the password
            try:
                config = environ.Env.db_url_config(url)
            except Exception:  # noqa: BLE001 (any URL it cannot read is a bad value)
                config = {}
        if config.get("ENGINE") not in {"django.db.backends.postgresql", "django.db.backends.sqlite3"}:
            raise ValueError
        return config

    return get(name, parse(default), parse, "a PostgreSQL or SQLite URL", "postgres://user:password@host:5432/name")
{% if cookiecutter.use_rest %}


def rate(name, default):
    """Requests per period, as Django REST framework's throttles read them, e.g. 60/minute."""

    def parse(value):
        return re.fullmatch(r"[0-9]+/(s|sec|second|m|min|minute|h|hour|d|day)", value)[0]

    return get(name, default, parse, "requests per second, minute, hour or day")
{% endif %}
