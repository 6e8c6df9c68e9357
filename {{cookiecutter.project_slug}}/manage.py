#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "{{ cookiecutter.project_slug }}.settings")
    os.environ["DATABASE_POOL_SIZE"] = "0"  # one command, one connection: a pool would retry a dead database for 10 s
    if sys.argv[1:2] == ["collectstatic"]:  # a build step, maybe before any config var is set: it signs nothing
        os.environ.setdefault("SECRET_KEY", "collectstatic-signs-nothing")
        os.environ.setdefault("ALLOWED_HOSTS", "localhost")
    from django.core.management import execute_from_command_line
    from django.db import OperationalError, connection

    try:
        execute_from_command_line(sys.argv)
    except OperationalError as error:  # no server, no such database, a refused login: the first line says which
        if connection.vendor == "sqlite" and "unable to open" not in str(error):
            raise  # SQLite opened its file: an error in a query (no such table) is Django's to show
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        sys.exit(f"Database error: {reason}; start it, create the database, or fix DATABASE_URL.")


if __name__ == "__main__":
    main()
