from django.apps import AppConfig


class RealtimeConfig(AppConfig):
    name = "{{ cookiecutter.project_slug }}.realtime"
    label = "realtime"
    verbose_name = "Real-time demo"
    home_url = "/realtime/"  # the home page links it
