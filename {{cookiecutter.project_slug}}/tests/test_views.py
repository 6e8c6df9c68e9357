"""The home page and the health check that the platform polls."""

import django
from django.db import OperationalError, connection

from {{ cookiecutter.project_slug }}.views import PROJECT_NAME


def test_home_page_shows_the_project(client):
    response = client.get("/")
    assert response.status_code == 200
    assert response.context["project_name"] == PROJECT_NAME
    assert "It works" in response.text


def test_strangers_are_not_told_the_django_version_and_developers_are(client, settings):
    assert django.get_version() not in client.get("/").text  # production: a version tells attackers what to try
    settings.DEBUG = True
    assert f"It works: Django {django.get_version()} is serving this page." in client.get("/").text


def test_favicon_ico_leads_to_the_sites_icon(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 302 and response["Location"] == "/static/favicon.svg"


def test_healthz_answers_json_after_a_database_round_trip(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "cache": "ok"}
    assert "no-cache" in response["Cache-Control"]


def test_healthz_is_503_when_the_database_is_down(client, db, monkeypatch, caplog):
    def refuse():
        raise OperationalError("connection refused")

    with monkeypatch.context() as patch:
        patch.setattr(connection, "cursor", refuse)
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "error", "database": "unavailable", "cache": "ok"}
    assert "Health check: the database (DATABASE_URL) did not answer: connection refused" in caplog.text
