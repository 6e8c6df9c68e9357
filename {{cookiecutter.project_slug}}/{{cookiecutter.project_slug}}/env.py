"""
Strict reading of environment variables, on top of django-environ.

django-environ reads the `.env` file and parses URLs; this layer makes mistakes
fail at start-up with a message that names the variable and the fix, and never
repeats the value (it may be a secret):

- booleans accept only true/false, 1/0, yes/no, on/off (not any other string);
- lists are comma-separated and stripped ("a.com, b.com" is two hosts);
- DATABASE_URL must name an engine this project supports.

It also keeps the development SECRET_KEY (development_key below).

https://django-environ.readthedocs.io/
"""

import os
import secrets
import tempfile
import warnings

import environ
from django.core.exceptions import ImproperlyConfigured

TRUE = {"true", "1", "yes", "on"}
FALSE = {"false", "0", "no", "off"}
DATABASE_ENGINES = {"django.db.backends.postgresql", "django.db.backends.sqlite3"}


class EnvVarError(ImproperlyConfigured):
    """A variable is missing or malformed; manage.py prints the message as one line."""


def development_key(path):
    """A SECRET_KEY for development, made once per checkout and kept in `path`, so every process shares it.

    gunicorn's workers, runserver after a reload and the real-time server must sign with the same key, or
    users are logged out and tokens are refused. Processes may start together: each writes a complete
    candidate file, and the first to link it into place wins (linking never replaces a file); the others
    read the winner's key.
    """
    try:
        if not path.exists():
            descriptor, candidate = tempfile.mkstemp(dir=path.parent, prefix=f"{path.name}.")  # yours only
            with os.fdopen(descriptor, "w") as file:
                file.write(secrets.token_urlsafe(50) + "\n")
            try:
                os.link(candidate, path)
            except FileExistsError:
                pass  # another process was first: its key wins
            finally:
                os.unlink(candidate)
        key = path.read_text().strip()
    except OSError as error:
        problem = f"{path.name} could not be read or made ({error.strerror})"
        raise EnvVarError(f"SECRET_KEY is not set and {problem}; set SECRET_KEY in .env.") from None
    if not key:
        raise EnvVarError(f"SECRET_KEY is not set and {path.name} is empty; delete it to get a new key.")
    return key


class Env:
    """Typed getters for environment variables; the `.env` file fills in what is not set."""

    REQUIRED = object()  # default for variables without one: missing means stop

    def __init__(self, env_file):
        if env_file.exists():
            # overwrite=False: real environment variables win over the file.
            environ.Env.read_env(env_file, overwrite=False)

    def str(self, name, default=REQUIRED):
        value = os.environ.get(name, "").strip()
        if value:
            return value
        if default is self.REQUIRED:
            raise EnvVarError(f"{name} is not set; set it in the environment (or in .env for local work).")
        return default

    def bool(self, name, default):
        value = self.str(name, default=None)
        if value is None:
            return default
        if value.lower() not in TRUE | FALSE:
            raise EnvVarError(f"{name} must be one of true/false, 1/0, yes/no, on/off; set e.g. {name}=false.")
        return value.lower() in TRUE

    def int(self, name, default):
        value = self.str(name, default=None)
        if value is None:
            return default
        try:
            return int(value)
        except ValueError:
            raise EnvVarError(f"{name} must be a whole number; set e.g. {name}={default}.") from None

    def list(self, name, default=REQUIRED):
        value = self.str(name, default=self.REQUIRED if default is self.REQUIRED else None)
        if value is None:
            return default
        return [item.strip() for item in value.split(",") if item.strip()]

    def choice(self, name, choices, default):
        value = self.str(name, default=default)
        if value not in choices:
            raise EnvVarError(f"{name} must be one of {', '.join(choices)}; set e.g. {name}={default}.")
        return value

    def database(self, name, default):
        """A DATABASES entry from a URL such as postgres://user:password@host:5432/name."""
        url = self.str(name, default=default)
        with warnings.catch_warnings():
            # django-environ warns about unknown URLs with the parsed password in the text.
            warnings.simplefilter("ignore")
            try:
                config = environ.Env.db_url_config(url)
            except Exception:
                config = {}
        if config.get("ENGINE") not in DATABASE_ENGINES:
            raise EnvVarError(
                f"{name} is not a supported database URL; use postgres://user:password@host:5432/name "
                "or sqlite:////absolute/path/db.sqlite3."
            )
        return config
{% if cookiecutter.use_rest %}

    def rate(self, name, default):
        """A request rate such as 60/minute, in the form Django REST framework's throttles read."""
        value = self.str(name, default=default)
        count, _, period = value.partition("/")
        if not (count.isdigit() and period in {"s", "sec", "second", "m", "min", "minute", "h", "hour", "d", "day"}):
            raise EnvVarError(f"{name} must be requests per second, minute, hour or day; set e.g. {name}={default}.")
        return value
{% endif %}
