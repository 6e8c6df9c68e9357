"""URL configuration: the one place that maps paths to views. https://docs.djangoproject.com/en/6.1/topics/http/urls/"""

from django.contrib import admin
from django.urls import {% if cookiecutter.use_rest or cookiecutter.use_realtime %}include, {% endif %}path

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
{% if cookiecutter.example_app == "board" %}
    path("", include("{{ cookiecutter.project_slug }}.board.urls")),  # /board/ and /api/board/, before /api/'s 404
{% endif %}
{% if cookiecutter.use_rest %}
    path("api/", include("{{ cookiecutter.project_slug }}.api.urls")),
{% endif %}
{% if cookiecutter.use_realtime %}
    path("realtime/", include("{{ cookiecutter.project_slug }}.realtime.urls")),
{% endif %}
]
