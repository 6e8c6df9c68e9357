from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "{{ cookiecutter.project_slug }}.api"
    label = "api"
    verbose_name = "REST API"
    home_url = "/api/docs/"  # the home page links it
