"""
HTTP caching and conflict-safe edits: every answer has a strong ETag; a client that has
the current one gets 304 and no body; a change must name the version it was made from
(If-Match), and a change made from an old version is refused with 412 and the task as it
is now, so that two people editing one card never overwrite each other without knowing.
"""

import re
from datetime import timedelta

import pytest
from django.utils.http import http_date

from .. import views
from ..models import Task
from .conftest import TASKS, create, patch, task_url

STRONG_ETAG = re.compile(r'"[0-9a-f]{32}"')  # no W/ prefix: byte for byte the same answer


def test_a_task_carries_a_strong_etag_and_its_last_modified_time(as_alice):
    task = create(as_alice)
    response = as_alice.get(task_url(task["id"]))
    assert STRONG_ETAG.fullmatch(response["ETag"])
    assert response["ETag"] == response.json()["etag"] == task["etag"]
    assert response["Last-Modified"] == http_date(Task.objects.get().updated.timestamp())
    assert set(response["Cache-Control"].split(", ")) == {"private", "no-cache"}  # keep it, but ask each time


def test_the_list_carries_an_etag_but_no_last_modified(as_alice):
    create(as_alice)
    response = as_alice.get(TASKS)
    assert STRONG_ETAG.fullmatch(response["ETag"])
    assert "Last-Modified" not in response  # deleting a task changes the list but no remaining task's time


@pytest.mark.parametrize("list_or_task", ["list", "task"])
def test_if_none_match_gets_304_without_a_body_until_something_changes(as_alice, list_or_task):
    task = create(as_alice)
    url = TASKS if list_or_task == "list" else task_url(task["id"])
    first = as_alice.get(url)
    again = as_alice.get(url, headers={"If-None-Match": first["ETag"]})
    assert again.status_code == 304
    assert again.content == b""
    assert again["ETag"] == first["ETag"]

    assert patch(as_alice, task["id"], {"title": "Renamed"}, if_match=task["etag"]).status_code == 200
    changed = as_alice.get(url, headers={"If-None-Match": first["ETag"]})
    assert changed.status_code == 200
    assert changed["ETag"] != first["ETag"]
    assert "Renamed" in changed.text


def test_the_list_etag_changes_with_every_addition_change_and_deletion(as_alice):
    etags = [as_alice.get(TASKS)["ETag"]]
    task = create(as_alice)
    etags.append(as_alice.get(TASKS)["ETag"])
    moved = patch(as_alice, task["id"], {"status": "doing"}, if_match=task["etag"]).json()
    etags.append(as_alice.get(TASKS)["ETag"])
    as_alice.delete(task_url(task["id"]), headers={"If-Match": moved["etag"]})
    etags.append(as_alice.get(TASKS)["ETag"])
    assert len(set(etags[:3])) == 3
    assert etags[3] == etags[0], "the same (empty) board, the same ETag"


def test_if_modified_since_works_for_a_task_at_one_second_resolution(as_alice):
    task = create(as_alice)
    url = task_url(task["id"])
    last_modified = as_alice.get(url)["Last-Modified"]
    assert as_alice.get(url, headers={"If-Modified-Since": last_modified}).status_code == 304
    earlier = http_date((Task.objects.get().updated - timedelta(seconds=2)).timestamp())
    assert as_alice.get(url, headers={"If-Modified-Since": earlier}).status_code == 200


@pytest.mark.parametrize("method", ["patch", "put", "delete"])
def test_a_change_without_if_match_is_refused_with_428(as_alice, method):
    task = create(as_alice)
    response = getattr(as_alice, method)(task_url(task["id"]), {"title": "Mine"}, "application/json")
    assert response.status_code == 428
    assert response.json() == {
        "detail": "Send the task's ETag in an If-Match header, so a change made since you read it is not lost."
    }
    assert Task.objects.get().title == "Write the tests"


def test_a_stale_if_match_gets_412_with_the_task_as_it_is_now_and_changes_nothing(as_alice, as_bob):
    task = create(as_alice, title="Draft")
    # Alice and Bob both opened the task. Bob saves first.
    assert patch(as_bob, task["id"], {"title": "Bob's title"}, if_match=task["etag"]).status_code == 200
    current = as_bob.get(task_url(task["id"]))

    stale = patch(as_alice, task["id"], {"title": "Alice's title"}, if_match=task["etag"])
    assert stale.status_code == 412
    assert stale.json() == {
        "detail": "bob changed this task after you read it; this is how it is now.",
        "current": current.json(),
    }
    assert stale["ETag"] == current["ETag"] and stale["Last-Modified"] == current["Last-Modified"]
    assert Task.objects.get().title == "Bob's title"

    deleting = as_alice.delete(task_url(task["id"]), headers={"If-Match": task["etag"]})
    assert deleting.status_code == 412
    assert Task.objects.exists()


def test_the_current_if_match_lets_the_change_through_and_answers_the_new_etag(as_alice, as_bob):
    task = create(as_alice)
    response = patch(as_bob, task["id"], {"description": "Unit tests first"}, if_match=task["etag"])
    assert response.status_code == 200
    body = response.json()
    assert body["description"] == "Unit tests first"
    assert (body["version"], body["updated_by"]) == (2, "bob")
    assert STRONG_ETAG.fullmatch(response["ETag"]) and response["ETag"] == body["etag"] != task["etag"]
    assert patch(as_alice, task["id"], {"title": "Again"}, if_match=body["etag"]).status_code == 200


@pytest.mark.parametrize(("if_match", "status"), [("*", 200), ("W/{etag}", 412), ('"something else", {etag}', 200)])
def test_if_match_compares_strongly_and_accepts_any_of_a_list(as_alice, if_match, status):
    task = create(as_alice)
    assert (
        patch(as_alice, task["id"], {"title": "x"}, if_match=if_match.format(etag=task["etag"])).status_code == status
    )


def test_a_version_saved_between_the_check_and_the_write_is_not_overwritten(as_alice, bob, monkeypatch):
    """The If-Match check and the write are two steps; the write itself refuses a version that moved on."""
    task = create(as_alice, title="Draft")
    check = views.if_match_fails

    def check_then_bob_saves(request, etag):
        failed = check(request, etag)
        Task.objects.get().save_if_unchanged(title="Bob's title", updated_by=bob)  # just after Alice's check
        return failed

    monkeypatch.setattr(views, "if_match_fails", check_then_bob_saves)
    response = patch(as_alice, task["id"], {"title": "Alice's title"}, if_match=task["etag"])
    assert response.status_code == 412
    assert response.json()["current"]["title"] == "Bob's title"
    assert Task.objects.get().title == "Bob's title"


def test_save_if_unchanged_lets_exactly_one_of_two_writers_of_a_version_win(alice):
    Task.objects.create(title="Draft")
    first, second = Task.objects.get(), Task.objects.get()  # both read version 1
    assert first.save_if_unchanged(title="First") is True
    assert second.save_if_unchanged(title="Second") is False
    assert second.delete_if_unchanged() is False
    stored = Task.objects.get()
    assert (stored.title, stored.version) == ("First", 2)


def test_a_change_that_changes_nothing_keeps_the_version_and_the_etag(as_alice):
    task = create(as_alice)
    response = patch(as_alice, task["id"], {"title": task["title"], "status": "todo"}, if_match=task["etag"])
    assert response.status_code == 200
    assert response.json() == task


def test_a_deleted_task_is_404_whatever_its_if_match_says(as_alice):
    task = create(as_alice)
    assert as_alice.delete(task_url(task["id"]), headers={"If-Match": task["etag"]}).status_code == 204
    assert patch(as_alice, task["id"], {"title": "x"}, if_match=task["etag"]).status_code == 404


def test_validation_comes_after_the_precondition(as_alice):
    task = create(as_alice)
    assert patch(as_alice, task["id"], {"status": "later"}, if_match=None).status_code == 428
    invalid = patch(as_alice, task["id"], {"status": "later"}, if_match=task["etag"])
    assert invalid.status_code == 400 and invalid.json() == {"status": ['"later" is not a valid choice.']}
