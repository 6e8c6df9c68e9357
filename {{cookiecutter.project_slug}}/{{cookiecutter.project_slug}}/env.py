"""Environment variables, read strictly: a missing or malformed one stops start-up with one line that names it and
the fix, never its value (a secret, maybe). django-environ, which reads .env, takes DEBUG=ture for false."""

import os
{% if cookiecutter.use_rest %}
import re
{% endif %}
import warnings
from functools import partial

import environ

REQUIRED = object()
BOOLEANS = {"true": True, "1": True, "yes": True, "on": True, "false": False, "0": False, "no": False, "off": False}
read_env_file = environ.Env.read_env  # https://django-environ.readthedocs.io/: the environment wins over the file


class EnvVarError(SystemExit):
    """A SystemExit, so manage.py, gunicorn and tests print the one line and no traceback."""


def get(name, default=REQUIRED, parse=str, rule="", example=None):
    """The variable as parse() reads it; default when it is unset or empty."""
    value = os.environ.get(name, "").strip()
    if not value and default is REQUIRED:
        problem = f"{name} is not set; set it in the environment (or in .env for local work)."
    else:
        try:
            return parse(value) if value else default
        except (ValueError, KeyError, TypeError):
            problem = f"{name} must be {rule}; set e.g. {name}={example or str(default).lower()}."  # False: false
    raise EnvVarError(f"Configuration error: {problem}") from None


boolean = partial(get, parse=lambda value: BOOLEANS[value.lower()], rule="one of true/false, 1/0, yes/no, on/off")
number = partial(get, parse=int, rule="a whole number")
names = partial(get, parse=lambda value: [item.strip() for item in value.split(",") if item.strip()])
{% if cookiecutter.use_rest %}
# Requests per period, as Django REST framework's throttles read them, e.g. 60/minute
rate = partial(
    get,
    parse=lambda value: re.fullmatch(r"[0-9]+/(s|sec|second|m|min|minute|h|hour|d|day)", value)[0],
    rule="requests per second, minute, hour or day",
)
{% endif %}


def choice(name, choices, default):
    return get(name, default, lambda value: choices[choices.index(value)], f"one of {', '.join(choices)}", default)


def database(name, default):
    """A DATABASES entry from a PostgreSQL or SQLite URL."""

    def parse(url):
        with warnings.catch_warnings(action="ignore"):  # django-environ's warning can show the password
            config = environ.Env.db_url_config(url)  # ValueError for a port that is not a number
        if config.get("ENGINE") not in {"django.db.backends.postgresql", "django.db.backends.sqlite3"}:
            raise ValueError
        return config

    return get(name, parse(default), parse, "a PostgreSQL or SQLite URL", "postgres://user:password@host:5432/name")
