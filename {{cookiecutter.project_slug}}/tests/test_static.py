"""Static files: collected with content hashes and served by whitenoise with far-future caching."""

import json

import pytest
from django.test import Client

from conftest import ROUTER_HEADERS

WHITENOISE = {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"}


@pytest.fixture
def collected(settings, build):
    """The files the build collected, served by whitenoise; returns the manifest's name -> hashed name."""
    checkout, result = build
    assert result.returncode == 0, result.stderr
    settings.STATIC_ROOT = checkout / "staticfiles"
    settings.STORAGES = {**settings.STORAGES, "staticfiles": WHITENOISE}
    return json.loads((settings.STATIC_ROOT / "staticfiles.json").read_text())["paths"]


def test_hashed_files_are_cached_forever_and_compressed(collected):
    hashed = collected["css/site.css"]
    assert hashed != "css/site.css"
    response = Client().get(f"/static/{hashed}", headers={**ROUTER_HEADERS, "Accept-Encoding": "gzip"})
    assert response.status_code == 200
    assert response["Cache-Control"] == "max-age=315360000, public, immutable"
    assert response["Content-Encoding"] == "gzip"


def test_unhashed_names_are_cached_briefly(collected):
    response = Client().get("/static/css/site.css", headers=ROUTER_HEADERS)
    assert response.status_code == 200
    assert response["Cache-Control"] == "max-age=60, public"


def test_pages_link_the_hashed_file(collected, client):
    assert f"/static/{collected['css/site.css']}" in client.get("/").text
