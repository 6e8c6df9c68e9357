"""
ASGI entry point, for ASGI servers. The project is served by gunicorn over WSGI,
which is faster for ordinary pages; WebSockets, if chosen, live in their own process.

https://docs.djangoproject.com/en/6.1/howto/deployment/asgi/
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "{{ cookiecutter.project_slug }}.settings")

application = get_asgi_application()
