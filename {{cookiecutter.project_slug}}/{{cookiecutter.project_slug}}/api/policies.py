"""
Project-wide REST framework policies, named in settings.REST_FRAMEWORK.

- `JSONParser` holds request bodies to Django's DATA_UPLOAD_MAX_MEMORY_SIZE. DRF reads
  the body as a stream, past the check that Django's forms get, so without it a client
  could make a worker hold any amount of JSON in memory.
- `exception_handler` keeps every error JSON: DRF's handler answers 4xx errors as
  {"detail": "..."} (or field errors); anything else becomes a logged JSON 500 when
  DEBUG is off, so an API client never gets an HTML page.

https://www.django-rest-framework.org/api-guide/exceptions/
"""

import io
import logging

from django.conf import settings
from rest_framework import exceptions, parsers, views
from rest_framework.response import Response

logger = logging.getLogger(__name__)


class RequestTooLarge(exceptions.APIException):
    status_code = 413
    default_detail = "The request body is too large."
    default_code = "request_too_large"


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if limit is not None:
            body = stream.read(limit + 1)
            if len(body) > limit:
                raise RequestTooLarge(f"The request body is larger than the limit of {limit} bytes.")
            stream = io.BytesIO(body)
        return super().parse(stream, media_type, parser_context)


def exception_handler(exc, context):
    response = views.exception_handler(exc, context)
    if response is None and not settings.DEBUG:  # in development, Django's traceback page says more
        logger.error("Unhandled error in the API", exc_info=exc)
        views.set_rollback()
        response = Response({"detail": "Server error. It has been logged; please try again later."}, status=500)
    return response
