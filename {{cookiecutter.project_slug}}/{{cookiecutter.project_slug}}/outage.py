"""A database outage is the platform's to fix, not a bug: 503 with Retry-After, not a 500 and a traceback, and one
log line when it starts and one when it ends. https://docs.djangoproject.com/en/6.1/topics/http/middleware/"""

import logging

from django.db import InterfaceError, OperationalError, connection
from django.db.backends.signals import connection_created
from django.http import HttpResponse, JsonResponse
from django.template.loader import render_to_string

logger = logging.getLogger(__name__)
UNAVAILABLE = "The database is not answering; try again in a few seconds."


class DatabaseOutageMiddleware:
    outage = False  # in this process, until the database answers a connection again

    def __init__(self, get_response):
        self.get_response = get_response
        connection_created.connect(self.database_answered)
        # Django logs each 503 answer; this middleware logs the outage's start and end instead.
        logging.getLogger("django.request").addFilter(lambda record: getattr(record, "status_code", None) != 503)

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, OperationalError | InterfaceError):
            return None
        if connection.connection is not None and connection.is_usable():
            return None  # the database answers: an error in a query (a missing table) is a bug, a 500
        if not DatabaseOutageMiddleware.outage:
            DatabaseOutageMiddleware.outage = True
            logger.error("The database (DATABASE_URL) does not answer: pages answer 503 until it does (%s)", exception)
        if "text/html" in request.headers.get("Accept", ""):  # a browser
            response = HttpResponse(render_to_string("503.html"), status=503)  # no static files, no database
        else:
            response = JsonResponse({"detail": UNAVAILABLE}, status=503)
        response["Retry-After"] = "10"  # seconds
        return response

    @classmethod
    def database_answered(cls, **kwargs):
        if cls.outage:
            cls.outage = False
            logger.warning("The database (DATABASE_URL) answers again")
