"""
HTTP caching for the board's API, the book's lesson on stateless services: a client
that already has the current version of a resource gets "304 Not Modified" and no
body, and a client may only change a task it has seen in its current version.

- ETag: a hash of the JSON a client receives, so it changes exactly when the answer
  does (a strong validator). Each task carries its own in its JSON too ("etag"), so a
  client has what If-Match needs from the list and from events, not only from a GET.
- Last-Modified: the time of a task's last change. Not sent for the list: deleting a
  task changes the list without changing any remaining task's time.
- Conditional GET (If-None-Match, If-Modified-Since) is evaluated by Django's own
  implementation of RFC 9110, django.utils.cache.get_conditional_response.
- If-Match is read here, strictly: Django ignores an If-Match it cannot parse, so a client
  that dropped an ETag's quotes would overwrite other people's changes unknowingly. Every
  board request whose If-Match or If-None-Match is neither * nor a list of entity-tags is
  refused with 400 (Preconditions.initial()), whatever its method.

https://www.rfc-editor.org/rfc/rfc9110#name-conditional-requests
https://docs.djangoproject.com/en/6.1/topics/conditional-view-processing/
"""

import hashlib
import re

from django.utils.cache import get_conditional_response, patch_cache_control, patch_vary_headers
from django.utils.http import http_date
from rest_framework import exceptions
from rest_framework.renderers import JSONRenderer

# RFC 9110, 8.8.3: entity-tag = [ W/ ] DQUOTE *etagc DQUOTE; a list of them may have empty elements (5.6.1).
ENTITY_TAG = r'(?:W/)?"[\x21\x23-\x7e\x80-\xff]*"'
ENTITY_TAGS = re.compile(rf"[ \t,]*{ENTITY_TAG}(?:[ \t]*,[ \t,]*{ENTITY_TAG})*[ \t,]*")


class MalformedPrecondition(exceptions.ParseError):
    def __init__(self, header):
        super().__init__(
            f"{header} must be * or ETags in double quotes, comma-separated, as the ETag header sends them."
        )


class PreconditionFailed(exceptions.APIException):
    status_code = 412
    default_detail = "It changed since you read it: If-Match names none of its ETags."
    default_code = "precondition_failed"


def etag_of(data):
    """The strong ETag of `data`: a hash of its JSON as the API sends it."""
    return f'"{hashlib.blake2b(JSONRenderer().render(data), digest_size=16).hexdigest()}"'


def validators(etag, last_modified=None):
    """The response headers that let a client revalidate: ETag, and Last-Modified if there is one."""
    headers = {"ETag": etag}
    if last_modified is not None:
        headers["Last-Modified"] = http_date(last_modified.timestamp())
    return headers


def entity_tags(request, header):
    """The ETags that `header` lists, ["*"], or None without the header; 400 if it is none of these."""
    value = request.headers.get(header)
    if value is None:
        return None
    if value.strip(" \t") == "*":
        return ["*"]
    if not ENTITY_TAGS.fullmatch(value):
        raise MalformedPrecondition(header)
    return re.findall(ENTITY_TAG, value)


class Preconditions:
    """A viewset mixin: refuse a malformed If-Match or If-None-Match (400) before any other work."""

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)  # login, permissions and throttling first
        entity_tags(request, "If-Match")
        entity_tags(request, "If-None-Match")


def if_match_fails(request, etag):
    """True if the request has an If-Match that does not name `etag` (strong comparison: W/"..." never matches)."""
    tags = entity_tags(request, "If-Match")
    return tags is not None and tags != ["*"] and etag not in tags


def cacheable(request, response, last_modified=None):
    """`response`, or a bodiless 304 Not Modified when the client's copy is still the current one.

    Clients may keep the answer but must ask again each time (no-cache), sending its ETag in
    If-None-Match; private: it is for logged-in users, never for shared caches. An If-Match
    that names none of the answer's ETags is a 412.
    """
    if if_match_fails(request, response["ETag"]):
        raise PreconditionFailed()
    patch_cache_control(response, private=True, no_cache=True)
    patch_vary_headers(response, ["Accept"])  # the browsable API (DEBUG only) is another representation
    timestamp = None if last_modified is None else int(last_modified.timestamp())
    return get_conditional_response(request, etag=response["ETag"], last_modified=timestamp, response=response)


def if_none_match_fails(request, etag):
    """True if the request's If-None-Match names `etag` or is *, so a change must not happen (weak comparison)."""
    return get_conditional_response(request, etag=etag) is not None
