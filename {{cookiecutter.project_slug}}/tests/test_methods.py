"""
No URL answers any method with a server error, in production mode.

The test walks the URLconf, the add-ons' and the admin's URLs included, fills each path's parameters with the
samples below, and sends every method to every path, and to an unknown path under each prefix: as a visitor
and as a logged-in staff user. A URL added later is walked too, and one whose parameter has no sample fails
until SAMPLES has one.
"""

import re
import uuid

import pytest
from django.contrib.auth import get_user_model
from django.urls import URLResolver, get_resolver
from django.urls.resolvers import RoutePattern
from django.utils.regex_helper import normalize

METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"]
# A value for each path converter (by its name; drf_format_suffix is the REST router's), and for each named group
# of a regular expression (by the group's name: the admin's app_label and catch-all url, the router's pk).
SAMPLES = {
    "int": "1",
    "str": "sample",
    "slug": "sample",
    "uuid": str(uuid.UUID(int=1)),
    "path": "sample/path",
    "drf_format_suffix": ".json",
    "app_label": "auth",
    "url": "sample",
    "pk": "1",
}


def sample_path(pattern):
    """The part of a path that one URL pattern matches, with a sample for each parameter."""
    if isinstance(pattern, RoutePattern):  # path("tasks/<int:pk>/", ...)
        return re.sub(r"<(?:(\w+):)?(\w+)>", lambda parameter: SAMPLES[parameter[1] or "str"], str(pattern))
    form, names = normalize(pattern.regex.pattern)[0]  # re_path(r"^(?P<app_label>auth|api)/$"): "%(app_label)s/"
    return form % {name: SAMPLES[name] for name in names}


def walk(resolver, prefix="/"):
    """Every path of the URLconf with samples filled in, and an unknown one under each prefix."""
    for pattern in resolver.url_patterns:
        path = prefix + sample_path(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from walk(pattern, path)
        else:
            yield path
    yield prefix + "no-such-page/"


@pytest.mark.parametrize("visitor", ["anonymous", "staff"])
def test_every_url_answers_every_method_without_a_server_error(client, db, settings, caplog, visitor):
    settings.DEBUG = False
    client.raise_request_exception = False  # a 500 is an answer here, not an exception
    user = get_user_model().objects.create_superuser("ada", "ada@example.com", "correct horse battery staple")
    paths, errors = sorted(set(walk(get_resolver()))), []
    for path in paths:
        if visitor == "staff":
            client.force_login(user)  # for each path: POST /admin/logout/ ends the session
        for method in METHODS:
            status = client.generic(method, path).status_code
            if status >= 500:
                errors.append(f"{method} {path}: {status}")
    assert errors == []
    assert [record.getMessage() for record in caplog.records if record.levelname in ("ERROR", "CRITICAL")] == []
    assert len(paths) > 10  # the walk found the URLconf
