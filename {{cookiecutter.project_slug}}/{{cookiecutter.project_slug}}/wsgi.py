"""The WSGI application gunicorn serves (Procfile). https://docs.djangoproject.com/en/6.1/howto/deployment/wsgi/"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "{{ cookiecutter.project_slug }}.settings")

django_application = get_wsgi_application()


def application(environ, start_response):
    """Django's, without the body of HEAD answers: Django answers HEAD as GET, and gunicorn warns each time."""
    response = django_application(environ, start_response)
    if environ["REQUEST_METHOD"] != "HEAD":
        return response
    response.close()  # what the server does after sending a body: ends the request (signals, files)
    return []
