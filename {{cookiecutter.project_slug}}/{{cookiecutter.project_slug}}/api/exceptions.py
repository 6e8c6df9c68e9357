"""
Every API error is JSON a client can act on; settings.REST_FRAMEWORK["EXCEPTION_HANDLER"] points here.

DRF's own handler answers its 4xx errors as {"detail": "..."} or as field errors. This one adds:
- 413 for a body over DATA_UPLOAD_MAX_MEMORY_SIZE (Django would answer an HTML 400);
- a logged JSON 500 for anything unexpected when DEBUG is off (in development the traceback page says more).

https://www.django-rest-framework.org/api-guide/exceptions/#custom-exception-handling
"""

import logging

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from rest_framework import views
from rest_framework.response import Response

logger = logging.getLogger(__name__)


def exception_handler(exc, context):
    if isinstance(exc, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return Response({"detail": f"The request body is larger than the limit of {limit} bytes."}, status=413)
    response = views.exception_handler(exc, context)
    if response is None and not settings.DEBUG:
        logger.error("Unhandled error in the API", exc_info=exc)
        views.set_rollback()
        response = Response({"detail": "Server error. It has been logged; please try again later."}, status=500)
    return response
