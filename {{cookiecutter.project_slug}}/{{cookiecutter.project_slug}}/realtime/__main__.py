"""Run the real-time server: `python -m {{ cookiecutter.project_slug }}.realtime [--port N]` (default: REALTIME_PORT)."""

import argparse
import asyncio
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "{{ cookiecutter.project_slug }}.settings")


def run():
    from django.conf import settings

    from ..env import EnvVarError
    from .server import Config, main

    try:
        config = Config.read(settings)  # a bad variable: one line that names it, as manage.py gives
    except EnvVarError as error:
        raise SystemExit(str(error)) from None
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=settings.REALTIME_PORT)
    asyncio.run(main(config, parser.parse_args().port))


if __name__ == "__main__":
    run()
