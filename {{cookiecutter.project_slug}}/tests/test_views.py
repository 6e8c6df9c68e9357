"""The home page and the health check that the platform polls."""

import django
from django.db import OperationalError, connection

from {{ cookiecutter.project_slug }}.outage import DatabaseOutageMiddleware
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


def test_favicon_ico_is_the_sites_icon(client):
    """Browsers ask every site for /favicon.ico, the admin's pages too: a 404 would be an error in their console."""
    response = client.get("/favicon.ico")
    assert (response.status_code, response["Content-Type"]) == (200, "image/x-icon")
    assert b"".join(response.streaming_content).startswith(b"\x00\x00\x01\x00")  # an icon file's header


def test_healthz_answers_json_after_a_database_round_trip(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "cache": "ok"}
    assert "no-cache" in response["Cache-Control"]


def test_healthz_is_503_when_the_database_is_down(client, db, monkeypatch, caplog):
    def refuse():
        raise OperationalError("connection refused")

    monkeypatch.setattr(DatabaseOutageMiddleware, "outage", False)  # this process's news of an outage, restored after
    with monkeypatch.context() as patch:
        patch.setattr(connection, "cursor", refuse)
        patch.setattr(connection, "is_usable", lambda: False)  # what a lost server leaves
        response = client.get("/healthz", headers={"Accept": "application/json"})
    assert (response.status_code, response["Retry-After"]) == (503, "10")
    assert response.json() == {"detail": "The database is not answering; try again in a few seconds."}
    assert "The database (DATABASE_URL) does not answer: pages answer 503 until it does" in caplog.text
