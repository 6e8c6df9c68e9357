"""
URLs of the board, included at the site's root by the project's urls.py: the page under
/board/ and its REST API under /api/board/ (beside the REST add-on's, in the same schema).
"""

from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.core.validators import MaxLengthValidator
from django.urls import include, path
from rest_framework import routers

from . import views

app_name = "board"


class LoginForm(AuthenticationForm):
    """Django's, but a username longer than any user's is a form error, not a login attempt: django-axes records
    each attempt's username in 255 characters, and PostgreSQL refuses a longer one (a 500)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)  # which sets the field's max_length, but not its validator
        self.fields["username"].validators.append(MaxLengthValidator(self.fields["username"].max_length))


router = routers.SimpleRouter()
router.register("tasks", views.TaskViewSet)
router.register("sprints", views.SprintViewSet)

urlpatterns = [
    path("board/", views.page, name="page"),
    path("board/token", views.token, name="token"),
    # A login page for everyone (the admin's lets only staff in).
    path(
        "board/login/",
        auth_views.LoginView.as_view(
            template_name="board/login.html",
            authentication_form=LoginForm,
            next_page="board:page",
            redirect_authenticated_user=True,
        ),
        name="login",
    ),
    path("board/logout/", auth_views.LogoutView.as_view(next_page="board:login"), name="logout"),
    path("api/board/", include(router.urls)),
]
