"""The home page and /healthz. Add a view here, map it in urls.py. https://docs.djangoproject.com/en/6.1/topics/http/views/"""

import logging

import django
from django.apps import apps
from django.conf import settings
from django.db import DatabaseError, connection
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.views.decorators.cache import never_cache
from django_redis import get_redis_connection
from redis import RedisError

logger = logging.getLogger(__name__)

PROJECT_NAME = {{ cookiecutter.project_name|pyrepr }}


def home(request):
    # Add-ons announce themselves: their AppConfig has a `home_url` to link from this page.
    addons = [config for config in apps.get_app_configs() if getattr(config, "home_url", None)]
    version = django.get_version() if settings.DEBUG else None  # strangers need not know what to attack
    context = {"project_name": PROJECT_NAME, "addons": addons, "django_version": version}
    return render(request, "home.html", context)


def favicon(request):
    """Browsers ask every site for /favicon.ico, the admin's pages too: a 404 would be an error in their console."""
    return redirect(static("favicon.svg"))


@never_cache
def healthz(request):
    """503 when the database does not answer (the platform must act); a Redis outage only makes it "degraded"."""
    answer = {"status": "ok", "database": "ok", "cache": "ok"}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as error:
        logger.error("Health check: the database (DATABASE_URL) did not answer: %s", error)
        answer.update(status="error", database="unavailable")
    try:
        if settings.REDIS_URL:  # else the cache is each process's own memory
            get_redis_connection().ping()
    except RedisError as error:
        logger.warning("Health check: Redis (REDIS_URL) did not answer: %s", error)
        answer.update(status="degraded" if answer["status"] == "ok" else "error", cache="unavailable")
    return JsonResponse(answer, status=503 if answer["database"] != "ok" else 200)
