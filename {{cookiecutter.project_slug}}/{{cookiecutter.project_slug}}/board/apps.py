from django.apps import AppConfig


class BoardConfig(AppConfig):
    name = "{{ cookiecutter.project_slug }}.board"
    label = "board"
    verbose_name = "Task board"
    home_url = "/board/"  # the home page links it
