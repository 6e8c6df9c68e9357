"""Every change to a task is announced once, after its transaction commits, with the task as the API shows it."""

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction

from ...realtime.publish import encode_event
from .. import events
from ..models import Task
from .conftest import create, patch, task_url


def test_creating_announces_the_new_task_as_the_api_answered_it(
    as_alice, published, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        task = create(as_alice, title="Plan the sprint")
    assert len(callbacks) == 1
    assert published == [("board", {"action": "created", "task": task, "by": "alice"})]


@pytest.mark.parametrize(
    ("fields", "action"),
    [
        ({"title": "Plan the next sprint"}, "updated"),
        ({"status": "doing", "position": 0.5}, "moved"),
        ({"position": 7}, "moved"),
        ({"status": "done", "description": "Done and written up"}, "updated"),
    ],
)
def test_each_change_announces_one_event_naming_what_and_who(
    as_alice, as_bob, published, django_capture_on_commit_callbacks, fields, action
):
    task = create(as_alice)
    published.clear()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        answer = patch(as_bob, task["id"], fields, if_match=task["etag"]).json()
    assert len(callbacks) == 1
    assert published == [("board", {"action": action, "task": answer, "by": "bob"})]
    assert answer["etag"] == as_bob.get(task_url(task["id"]))["ETag"], "the event's ETag is the API's"


def test_deleting_announces_the_id_and_title(as_alice, published, django_capture_on_commit_callbacks):
    task = create(as_alice, title="Obsolete")
    published.clear()
    with django_capture_on_commit_callbacks(execute=True):
        as_alice.delete(task_url(task["id"]), headers={"If-Match": task["etag"]})
    assert published == [
        ("board", {"action": "deleted", "task": {"id": task["id"], "title": "Obsolete"}, "by": "alice"})
    ]


def test_nothing_is_announced_before_the_commit_nor_after_a_rollback(
    alice, published, django_capture_on_commit_callbacks
):
    task = Task.objects.create(title="Draft")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        events.task_changed("updated", task, alice)
    assert published == [], "the test's transaction has not committed"
    callbacks[0]()
    assert [data["action"] for _, data in published] == ["updated"]

    published.clear()
    with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
        events.task_changed("updated", task, alice)
        transaction.set_rollback(True)
    assert callbacks == [] and published == []


def test_refused_changes_announce_nothing(as_alice, as_bob, published, django_capture_on_commit_callbacks):
    task = create(as_alice)
    patch(as_bob, task["id"], {"title": "Bob's"}, if_match=task["etag"])
    published.clear()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert patch(as_alice, task["id"], {"title": "x"}, if_match=None).status_code == 428
        assert patch(as_alice, task["id"], {"title": "x"}, if_match=task["etag"]).status_code == 412
        assert as_alice.delete(task_url(task["id"]), headers={"If-Match": task["etag"]}).status_code == 412
        assert as_alice.post("/api/board/tasks/", {"title": ""}, "application/json").status_code == 400
    assert callbacks == [] and published == []


def test_the_admin_announces_its_changes_and_makes_older_etags_stale(
    client, as_alice, published, django_capture_on_commit_callbacks
):
    task = create(as_alice, title="Draft")
    admin = get_user_model().objects.create_superuser("admin", "admin@example.com")
    client.force_login(admin)
    published.clear()
    form = {"title": "Edited in the admin", "description": "", "status": "todo", "position": "0"}
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(f"/admin/board/task/{task['id']}/change/", form).status_code == 302
    [(_, event)] = published
    assert (event["action"], event["by"], event["task"]["title"], event["task"]["version"]) == (
        "updated",
        "admin",
        "Edited in the admin",
        2,
    )
    assert patch(as_alice, task["id"], {"title": "Mine"}, if_match=task["etag"]).status_code == 412


def test_the_largest_task_fits_in_one_real_time_message(alice, settings):
    task = Task.objects.create(title="界" * 200, description="✓" * 2000, assignee=alice, updated_by=alice)
    event = {"action": "updated", "task": events.TaskSerializer(task).data, "by": "x" * 150}
    assert len(encode_event("board", event)) < settings.REALTIME_MAX_MESSAGE_BYTES
