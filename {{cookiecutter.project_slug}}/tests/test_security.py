"""Production security behind a TLS-terminating proxy such as Heroku's router."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
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


PASSWORD = "the-right-one"  # noqa: S105 (a test user's)
DEAD_REDIS = {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": "redis://127.0.0.1:9/0"}


@pytest.mark.django_db
@pytest.mark.parametrize("redis", ["as configured", "down"])
def test_guessing_a_password_locks_that_username_out_for_a_while_even_with_redis_down(client, settings, redis):
    """The attempts are counted in the database, so the count holds while the cache does not."""
    if redis == "down":
        settings.CACHES = {"default": {**DEAD_REDIS, "OPTIONS": {"IGNORE_EXCEPTIONS": True}}}
    User.objects.create_superuser("admin", password=PASSWORD)
    guesses = [client.post("/admin/login/", {"username": "admin", "password": f"guess-{n}"}) for n in range(30)]
    assert [answer.status_code for answer in guesses[:4]] == [200] * 4  # "wrong password", four times
    assert {answer.status_code for answer in guesses[4:]} == {429}
    right = client.post("/admin/login/", {"username": "admin", "password": PASSWORD})
    assert right.status_code == 429, "locked: the right password does not open it either"
    assert right.content.decode() == "Account locked: too many login attempts. Please try again later."
    assert "_auth_user_id" not in client.session
    settings.AXES_COOLOFF_TIME = timedelta(seconds=0)  # the lock ends by itself: settings.py says after how long
    assert client.post("/admin/login/", {"username": "admin", "password": PASSWORD}).status_code == 302


@pytest.mark.django_db
def test_other_usernames_are_not_locked_by_someone_guessing_one(client):
    User.objects.create_user("alice", password=PASSWORD, is_staff=True)
    for n in range(6):
        client.post("/admin/login/", {"username": "admin", "password": f"guess-{n}"})
    assert client.post("/admin/login/", {"username": "alice", "password": PASSWORD}).status_code == 302


@pytest.mark.django_db
def test_a_username_longer_than_any_is_a_wrong_login_not_a_server_error(client):
    """django-axes records each failed username in 255 characters; PostgreSQL refused a longer one (a 500)."""
    response = client.post("/admin/login/", {"username": "u" * 300, "password": "guess"})
    assert response.status_code == 200
    assert "Please enter the correct username and password" in response.content.decode()
