"""Run the real-time server: `python -m {{ cookiecutter.project_slug }}.realtime [--port N]` (default: REALTIME_PORT)."""

import asyncio
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "{{ cookiecutter.project_slug }}.settings")

if __name__ == "__main__":
    from .server import main

    asyncio.run(main())
