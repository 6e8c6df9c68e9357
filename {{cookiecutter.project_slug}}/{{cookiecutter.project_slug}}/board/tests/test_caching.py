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
from ..models import Sprint, Task
from .conftest import SPRINTS, TASKS, create, patch, task_url

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


@pytest.mark.parametrize(
    ("if_match", "status"),
    [("*", 200), ("W/{etag}", 412), ('"something-else", {etag}', 200), (' , {etag} ,\t"a,b"', 200)],
)
def test_if_match_compares_strongly_and_accepts_any_of_a_list(as_alice, if_match, status):
    task = create(as_alice)
    assert (
        patch(as_alice, task["id"], {"title": "x"}, if_match=if_match.format(etag=task["etag"])).status_code == status
    )


# If-Match values that are neither * nor a list of entity-tags (RFC 9110, 13.1.1): {stale} is the ETag the
# client read, {current} the task's ETag now, {bare} the stale one without its quotes.
MALFORMED = [
    "garbage",
    "",
    "   ",
    "{bare}",
    "W/{bare}",
    "'{bare}'",
    '"{bare}',
    '{bare}"',
    "{stale} {current}",
    "{current}, garbage",
    "{current}x",
    "*, {current}",
    "w/{stale}",
    ",",
    " , , ",
    '"caf\u00e9-\u20ac"',  # obs-text is Latin-1 only
    '"with space"',  # no space in an entity-tag
]


@pytest.fixture
def changed_by_bob(as_alice, as_bob):
    """A task Alice read, which Bob changed since: {stale} is Alice's ETag, {current} Bob's."""
    task = create(as_alice, title="Draft")
    current = patch(as_bob, task["id"], {"title": "Bob's title"}, if_match=task["etag"]).json()["etag"]
    return {"id": task["id"], "stale": task["etag"], "current": current, "bare": task["etag"].strip('"')}


@pytest.mark.parametrize("method", ["patch", "put", "delete"])
@pytest.mark.parametrize("shape", MALFORMED)
def test_an_if_match_that_is_not_entity_tags_is_refused_with_400_and_changes_nothing(
    as_alice, changed_by_bob, method, shape
):
    if_match = shape.format(**changed_by_bob)
    body = {"title": "Alice's title"}
    response = getattr(as_alice, method)(
        task_url(changed_by_bob["id"]), body, "application/json", headers={"If-Match": if_match}
    )
    assert response.status_code == 400, f"If-Match: {if_match!r} was taken as a precondition"
    assert response.json() == {
        "detail": "If-Match must be * or ETags in double quotes, comma-separated, as the ETag header sends them."
    }
    assert Task.objects.get().title == "Bob's title"


@pytest.mark.parametrize("method", ["patch", "put", "delete"])
def test_the_current_etag_still_works_after_a_refused_malformed_one(as_alice, changed_by_bob, method):
    url = task_url(changed_by_bob["id"])
    headers = {"If-Match": changed_by_bob["bare"]}
    assert getattr(as_alice, method)(url, {"title": "Mine"}, "application/json", headers=headers).status_code == 400
    headers = {"If-Match": changed_by_bob["current"]}
    response = getattr(as_alice, method)(url, {"title": "Mine"}, "application/json", headers=headers)
    assert response.status_code == (204 if method == "delete" else 200)
    assert list(Task.objects.values_list("title", flat=True)) == ([] if method == "delete" else ["Mine"])


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
    assert invalid.status_code == 400 and invalid.json() == {"status": ["Must be one of todo, doing, done."]}


# What each board endpoint does with If-Match and If-None-Match: the current ETag, the same ETag marked weak
# (W/"..."), "*", and the ETag of an older version. GETs compare If-None-Match weakly (a weak ETag of the current
# version is still "what you have") and If-Match strongly; a change needs a strong match of the current ETag.
READ = {  # header, value: status for GET tasks/, GET tasks/ID/, GET sprints/ and GET sprints/ID/
    ("If-None-Match", "{current}"): 304,
    ("If-None-Match", "W/{current}"): 304,
    ("If-None-Match", "*"): 304,
    ("If-None-Match", "{stale}"): 200,
    ("If-Match", "{current}"): 200,
    ("If-Match", "W/{current}"): 412,
    ("If-Match", "*"): 200,
    ("If-Match", "{stale}"): 412,
}
CHANGE = {  # header, value: status for PATCH, PUT and DELETE tasks/ID/ (If-None-Match with the current If-Match)
    ("If-Match", "{current}"): "done",
    ("If-Match", "W/{current}"): 412,
    ("If-Match", "*"): "done",  # any version: an explicit last-write-wins
    ("If-Match", "{stale}"): 412,
    ("If-None-Match", "{current}"): 412,
    ("If-None-Match", "W/{current}"): 412,
    ("If-None-Match", "*"): 412,  # the task exists
    ("If-None-Match", "{stale}"): "done",
}


@pytest.fixture
def board(as_alice):
    """The URL of each read, and the ETag each answered before a task and a sprint changed."""
    sprint = Sprint.objects.create(name="Sprint 1", end="2030-01-31")
    task = create(as_alice, sprint=sprint.pk)
    urls = {"tasks": TASKS, "task": task_url(task["id"]), "sprints": SPRINTS, "sprint": f"{SPRINTS}{sprint.pk}/"}
    stale = {name: as_alice.get(url)["ETag"] for name, url in urls.items()}
    Sprint.objects.filter(pk=sprint.pk).update(name="Sprint one")
    patch(as_alice, task["id"], {"title": "Renamed"}, if_match=task["etag"])
    return urls, stale


@pytest.mark.parametrize("read", ["tasks", "task", "sprints", "sprint"])
@pytest.mark.parametrize(("header", "value"), READ)
def test_reads_answer_preconditions_with_304_or_412(as_alice, board, read, header, value):
    urls, stale = board
    current = as_alice.get(urls[read])
    assert STRONG_ETAG.fullmatch(current["ETag"]) and current["ETag"] != stale[read]
    response = as_alice.get(urls[read], headers={header: value.format(current=current["ETag"], stale=stale[read])})
    assert response.status_code == READ[header, value]
    if response.status_code == 412:
        assert response.json() == {"detail": "It changed since you read it: If-Match names none of its ETags."}
    if response.status_code == 304:
        assert response.content == b"" and response["ETag"] == current["ETag"]


@pytest.mark.parametrize("method", ["patch", "put", "delete"])
@pytest.mark.parametrize(("header", "value"), CHANGE)
def test_changes_need_a_strong_if_match_and_refuse_an_if_none_match_that_matches(
    as_alice, changed_by_bob, method, header, value
):
    etags = {"current": changed_by_bob["current"], "stale": changed_by_bob["stale"]}
    headers = {"If-Match": etags["current"], header: value.format(**etags)}
    url = task_url(changed_by_bob["id"])
    response = getattr(as_alice, method)(url, {"title": "Mine"}, "application/json", headers=headers)
    if CHANGE[header, value] == "done":
        assert response.status_code == (204 if method == "delete" else 200)
        return
    assert response.status_code == 412
    assert response.json()["current"]["etag"] == etags["current"]
    assert Task.objects.get().title == "Bob's title"


@pytest.mark.parametrize("header", ["If-Match", "If-None-Match"])
def test_creating_a_task_evaluates_no_precondition_but_refuses_a_malformed_one(as_alice, header):
    for value in ("*", '"any"', 'W/"any"'):
        assert as_alice.post(TASKS, {"title": "New"}, "application/json", headers={header: value}).status_code == 201
    refused = as_alice.post(TASKS, {"title": "New"}, "application/json", headers={header: "any"})
    assert refused.status_code == 400
    assert refused.json()["detail"].startswith(f"{header} must be * or ETags in double quotes")


@pytest.mark.parametrize("url", [TASKS, SPRINTS])
def test_reads_refuse_a_malformed_if_match_or_if_none_match_with_400(as_alice, url):
    for header in ("If-Match", "If-None-Match"):
        response = as_alice.get(url, headers={header: "no quotes"})
        assert response.status_code == 400
        assert response.json() == {
            "detail": f"{header} must be * or ETags in double quotes, comma-separated, as the ETag header sends them."
        }
