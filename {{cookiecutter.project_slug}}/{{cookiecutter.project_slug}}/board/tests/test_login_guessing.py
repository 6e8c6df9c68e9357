"""The board's login page locks a guessed username out like every login the project ships (django-axes)."""

import pytest
from django.contrib.auth.models import User

PASSWORD = "the-right-one"  # noqa: S105 (a test user's)


@pytest.mark.django_db
def test_guessing_on_the_board_login_locks_that_username_out(client, settings):
    User.objects.create_user("alice", password=PASSWORD)
    for n in range(settings.AXES_FAILURE_LIMIT - 1):
        assert client.post("/board/login/", {"username": "alice", "password": f"guess-{n}"}).status_code == 200
    assert client.post("/board/login/", {"username": "alice", "password": "the last guess"}).status_code == 429
    right = client.post("/board/login/", {"username": "alice", "password": PASSWORD})
    assert right.status_code == 429
    assert right.content.decode() == "Account locked: too many login attempts. Please try again later."
    assert "_auth_user_id" not in client.session
