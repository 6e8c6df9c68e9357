from django.urls import path

from . import views

app_name = "realtime"
urlpatterns = [
    path("", views.demo, name="demo"),
    path("token", views.token, name="token"),
    path("send", views.send, name="send"),
]
