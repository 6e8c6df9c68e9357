"""Run the real-time server: `python -m {{ cookiecutter.project_slug }}.realtime [--port N]` (default: REALTIME_PORT)."""

import argparse
import asyncio
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "{{ cookiecutter.project_slug }}.settings")


def run():
    from django.conf import settings

    from .server import main

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=settings.REALTIME_PORT)
    asyncio.run(main(parser.parse_args().port))


if __name__ == "__main__":
    run()
