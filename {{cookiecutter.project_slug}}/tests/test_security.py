"""Production security behind a TLS-terminating proxy such as Heroku's router."""

import pytest
from django.test import Client

from conftest import ROUTER_HEADERS


def test_https_through_the_proxy_is_served_not_redirected(client):
    response = client.get("/")
    assert response.status_code == 200
    assert response["Strict-Transport-Security"] == "max-age=31536000"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"


def test_plain_http_is_redirected_to_https():
    response = Client().get("/admin/login/")
    assert response.status_code == 301
    assert response["Location"] == "https://testserver/admin/login/"


def test_health_checks_may_use_plain_http(db):
    assert Client().get("/healthz").status_code == 200


@pytest.mark.django_db
def test_cookies_are_secure_and_same_site_posts_pass_the_csrf_check():
    browser = Client(enforce_csrf_checks=True, headers=ROUTER_HEADERS)
    browser.get("/admin/login/")
    cookie = browser.cookies["csrftoken"]
    assert cookie["secure"] is True
    response = browser.post(
        "/admin/login/",
        {"csrfmiddlewaretoken": cookie.value, "username": "nobody", "password": "wrong"},
        headers={"Origin": "https://testserver"},
    )
    assert response.status_code == 200  # the form answers "wrong password", the CSRF check passed


@pytest.mark.django_db
def test_cross_site_posts_are_refused():
    browser = Client(enforce_csrf_checks=True, headers=ROUTER_HEADERS)
    browser.get("/admin/login/")
    response = browser.post(
        "/admin/login/",
        {"csrfmiddlewaretoken": browser.cookies["csrftoken"].value, "username": "a", "password": "b"},
        headers={"Origin": "https://evil.example"},
    )
    assert response.status_code == 403
