"""The home page and /healthz. Add a view here, map it in urls.py. https://docs.djangoproject.com/en/6.1/topics/http/views/"""

import logging

import django
from django.apps import apps
from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django_redis import get_redis_connection
from redis import RedisError

logger = logging.getLogger(__name__)

PROJECT_NAME = {{ cookiecutter.project_name|pyrepr }}


def home(request):
    # Add-ons announce themselves: their AppConfig has a `home_url` to link from this page.
    addons = [config for config in apps.get_app_configs() if getattr(config, "home_url", None)]
    version = django.get_version() if settings.DEBUG else None  # strangers need not know what to attack
    return render(request, "home.html", {"project_name": PROJECT_NAME, "addons": addons, "django_version": version})


@never_cache
def healthz(request):
    """200 while the database answers (else outage.py's 503: the platform must act); Redis down is only "degraded"."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    try:
        if settings.REDIS_URL:  # else the cache is each process's own memory
            get_redis_connection().ping()
    except RedisError as error:
        logger.warning("Health check: Redis (REDIS_URL) did not answer: %s", error)
        return JsonResponse({"status": "degraded", "database": "ok", "cache": "unavailable"})
    return JsonResponse({"status": "ok", "database": "ok", "cache": "ok"})
