"""
HTTP caching for the board's API, the book's lesson on stateless services: a client
that already has the current version of a resource gets "304 Not Modified" and no
body, and a client may only change a task it has seen in its current version.

- ETag: a hash of the JSON a client receives, so it changes exactly when the answer
  does (a strong validator). Each task carries its own in its JSON too ("etag"), so a
  client has what If-Match needs from the list and from events, not only from a GET.
- Last-Modified: the time of a task's last change. Not sent for the list: deleting a
  task changes the list without changing any remaining task's time.
- Conditional GET (If-None-Match, If-Modified-Since) and If-Match are evaluated by
  Django's own implementation of RFC 9110, django.utils.cache.get_conditional_response.

https://www.rfc-editor.org/rfc/rfc9110#name-conditional-requests
https://docs.djangoproject.com/en/6.1/topics/conditional-view-processing/
"""

import hashlib

from django.utils.cache import get_conditional_response, patch_cache_control, patch_vary_headers
from django.utils.http import http_date
from rest_framework.renderers import JSONRenderer


def etag_of(data):
    """The strong ETag of `data`: a hash of its JSON as the API sends it."""
    return f'"{hashlib.blake2b(JSONRenderer().render(data), digest_size=16).hexdigest()}"'


def validators(etag, last_modified=None):
    """The response headers that let a client revalidate: ETag, and Last-Modified if there is one."""
    headers = {"ETag": etag}
    if last_modified is not None:
        headers["Last-Modified"] = http_date(last_modified.timestamp())
    return headers


def cacheable(request, response, last_modified=None):
    """`response`, or a bodiless 304 Not Modified when the client's copy is still the current one.

    Clients may keep the answer but must ask again each time (no-cache), sending its ETag in
    If-None-Match; private: it is for logged-in users, never for shared caches.
    """
    patch_cache_control(response, private=True, no_cache=True)
    patch_vary_headers(response, ["Accept"])  # the browsable API (DEBUG only) is another representation
    timestamp = None if last_modified is None else int(last_modified.timestamp())
    return get_conditional_response(request, etag=response["ETag"], last_modified=timestamp, response=response)


def if_match_fails(request, etag):
    """True if the request's If-Match rules out the current `etag` (a weak W/"..." never matches).

    Called only when an If-Match header is present: the views answer 428 without one.
    """
    return get_conditional_response(request, etag=etag) is not None
