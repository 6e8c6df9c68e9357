"""
Views of the core project: the home page and a health check for the platform.

Add a view here, map it in urls.py, and test it in tests/test_views.py.
https://docs.djangoproject.com/en/6.1/topics/http/views/
"""

import logging

import django
from django.apps import apps
from django.core.cache import cache
from django.db import DatabaseError, connection
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.views.decorators.cache import never_cache

logger = logging.getLogger(__name__)

PROJECT_NAME = {{ cookiecutter.project_name|pyrepr }}


def home(request):
    # Add-ons announce themselves: their AppConfig has a `home_url` to link from this page.
    addons = [config for config in apps.get_app_configs() if getattr(config, "home_url", None)]
    context = {"project_name": PROJECT_NAME, "addons": addons, "django_version": django.get_version()}
    return render(request, "home.html", context)


def favicon(request):
    """Browsers ask every site for /favicon.ico, the admin's pages too: a 404 would be an error in their console."""
    return redirect(static("favicon.svg"))


@never_cache
def healthz(request):
    """For the platform's checks: 503 when the database does not answer, which needs the platform's action.

    A Redis outage leaves it 200, saying "degraded": pages and the API go on without the cache (cache.py), and
    restarting the app would not bring Redis back; it would only turn a cache blip into a restart storm.
    """
    database = cache_state = "ok"
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as error:
        logger.error("Health check: the database did not answer: %s", error)
        database = "unavailable"
    if not getattr(cache, "reachable", lambda: True)():  # Redis can be down (cache.py); memory cannot
        cache_state = "unavailable"
    status = "error" if database != "ok" else "degraded" if cache_state != "ok" else "ok"
    answer = {"status": status, "database": database, "cache": cache_state}
    return JsonResponse(answer, status=503 if database != "ok" else 200)
