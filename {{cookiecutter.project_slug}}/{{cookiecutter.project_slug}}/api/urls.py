"""
URLs of the REST API, included under /api/ by the project's urls.py.

A new resource is one router line, e.g. `router.register("notes", views.NoteViewSet, basename="note")`.
https://www.django-rest-framework.org/api-guide/routers/
"""

from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView
from rest_framework import routers

from . import views

app_name = "api"

router = routers.DefaultRouter()  # GET /api/ lists the resources registered here

urlpatterns = [
    path("", include(router.urls)),
    path("me/", views.MeView.as_view(), name="me"),
    path("token/", views.TokenView.as_view(), name="token"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", views.DocsView.as_view(url_name="api:schema"), name="docs"),
    re_path(r"", views.NotFoundView.as_view()),  # last: anything else under /api/ is a JSON 404
]
