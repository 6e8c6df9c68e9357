"""The board's API and page: who may use them, what they accept, what they answer."""

import json
import logging
import re

import pytest
from django.contrib.auth import get_user_model
from drf_spectacular.validation import validate_schema

from ...api.tests.conftest import HOSTILE_STRINGS, refused_in_one_line
from ...realtime.server import Config
from ...realtime.tokens import check_token
from ..models import Sprint, Task
from .conftest import SPRINTS, TASKS, create, task_url

NOT_LOGGED_IN = {"detail": "Authentication credentials were not provided."}


def test_anonymous_visitors_get_nothing_but_the_way_to_log_in(client, db):
    for path in (TASKS, "/api/board/sprints/"):
        response = client.get(path)
        assert response.status_code == 401
        assert response.json() == NOT_LOGGED_IN
    page = client.get("/board/")
    assert page.status_code == 302 and page["Location"] == "/board/login/?next=/board/"
    assert client.get("/board/token").status_code == 403


def test_anyone_can_log_in_on_the_board_login_page_not_only_staff(client, alice):
    alice.set_password("a long enough password")
    alice.save()
    response = client.post("/board/login/", {"username": "alice", "password": "a long enough password"})
    assert response.status_code == 302 and response["Location"] == "/board/"
    assert client.get("/board/").status_code == 200


def test_a_new_task_goes_to_the_end_of_its_column_and_says_who_made_it(as_alice, alice):
    first = create(as_alice, title="Write the tests")
    assert first | {"id": 0, "created": "", "updated": "", "etag": ""} == {
        "id": 0,
        "title": "Write the tests",
        "description": "",
        "status": "todo",
        "position": 0.0,
        "assignee": None,
        "sprint": None,
        "version": 1,
        "created": "",
        "updated": "",
        "updated_by": "alice",
        "etag": "",
    }
    assert create(as_alice, title="Then the code")["position"] == 1.0
    assert create(as_alice, title="Review", status="doing")["position"] == 0.0
    assert create(as_alice, title="First of all", position=-1)["position"] == -1.0


def test_the_list_is_the_whole_board_in_order_as_one_json_array(as_alice):
    created = [create(as_alice, title=title, position=position) for title, position in [("b", 2), ("a", 1), ("c", 3)]]
    response = as_alice.get(TASKS)
    assert response.status_code == 200
    assert [task["title"] for task in response.json()] == ["a", "b", "c"]  # no pagination: a board is one page
    assert {task["id"] for task in response.json()} == {task["id"] for task in created}


def test_tasks_name_people_by_username_and_can_belong_to_a_sprint(as_alice, bob):
    sprint = Sprint.objects.create(name="Sprint 1", end="2030-01-31")
    task = create(as_alice, assignee="bob", sprint=sprint.pk)
    assert (task["assignee"], task["sprint"]) == ("bob", sprint.pk)
    assert Task.objects.get().assignee == bob
    assert as_alice.get("/api/board/sprints/").json() == [{"id": sprint.pk, "name": "Sprint 1", "end": "2030-01-31"}]


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({}, {"title": ["This field is required."]}),
        ({"title": "   "}, {"title": ["This field may not be blank."]}),
        ({"title": "x" * 201}, {"title": ["Ensure this field has no more than 200 characters."]}),
        ({"title": "x", "status": "later"}, {"status": ["Must be one of todo, doing, done."]}),
        ({"title": "x", "assignee": "nobody"}, {"assignee": ["Object with username=nobody does not exist."]}),
        ({"title": "x", "position": "Infinity"}, {"position": ["A valid number is required."]}),
        ({"title": "x", "sprint": 999}, {"sprint": ['Invalid pk "999" - object does not exist.']}),
    ],
)
def test_invalid_tasks_are_refused_with_json_field_errors(as_alice, body, errors):
    response = as_alice.post(TASKS, body, "application/json")
    assert response.status_code == 400
    assert response.json() == errors
    assert not Task.objects.exists()


def test_a_deactivated_user_cannot_be_given_a_task(as_alice, bob):
    bob.is_active = False
    bob.save()
    response = as_alice.post(TASKS, {"title": "x", "assignee": "bob"}, "application/json")
    assert response.json() == {"assignee": ["Object with username=bob does not exist."]}


def test_the_page_is_files_and_json_data_only_so_the_strict_csp_holds(as_alice, bob):
    response = as_alice.get("/board/")
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"], "the page holds this user's CSRF token: never cache it"
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy and "unsafe-eval" not in policy
    page = response.text
    assert '<script type="module" src="/static/board/board.js"></script>' in page
    assert '<script src="/static/realtime/realtime.js" defer></script>' in page
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", page, re.S)
    inline = [attributes for attributes, code in scripts if code.strip()]
    assert inline == [' id="board-config" type="application/json"'], "the only inline script is data"
    assert not re.search(r"\sstyle=", page) and "<style" not in page
    config = json.loads(re.search(r'<script id="board-config" type="application/json">(.*?)</script>', page, re.S)[1])
    assert config | {"csrfToken": ""} == {
        "user": "alice",
        "users": ["alice", "bob"],
        "statuses": [
            {"value": "todo", "label": "To do"},
            {"value": "doing", "label": "Doing"},
            {"value": "done", "label": "Done"},
        ],
        "channel": "board",
        "tasksUrl": TASKS,
        "sprintsUrl": "/api/board/sprints/",
        "tokenUrl": "/board/token",
        "loginUrl": "/board/login/",
        "csrfToken": "",
    }


def test_the_socket_token_is_for_the_board_channel_and_this_user(as_alice, alice, settings):
    response = as_alice.get("/board/token")
    assert "no-cache" in response["Cache-Control"]
    grant = response.json()
    assert grant["url"] == f"wss://testserver:{settings.REALTIME_PORT}/ws"
    assert (
        check_token(grant["token"], "board", key=settings.SECRET_KEY, max_age=Config.read(settings).token_max_age)
        == alice.pk
    )


def test_the_home_page_links_the_board(client, db):
    assert '<a href="/board/">Task board</a>' in client.get("/").text


def test_the_admin_shows_the_tasks(client, alice):
    admin = get_user_model().objects.create_superuser("admin", "admin@example.com")
    client.force_login(admin)
    create(client, title="Listed in the admin")
    assert "Listed in the admin" in client.get("/admin/board/task/").text


def test_the_schema_documents_the_board_with_its_validators_and_preconditions(as_alice):
    document = as_alice.get("/api/schema/", {"format": "json"}).json()
    validate_schema(document)
    tasks, task = document["paths"][TASKS], document["paths"]["/api/board/tasks/{id}/"]
    assert set(tasks) == {"get", "post"} and set(task) == {"get", "put", "patch", "delete"}
    for operation in (tasks["get"], task["get"]):
        assert {"200", "304"} <= set(operation["responses"])
        assert "ETag" in operation["responses"]["200"]["headers"]
        assert "If-None-Match" in [parameter["name"] for parameter in operation["parameters"]]
    assert "Last-Modified" in task["get"]["responses"]["304"]["headers"]
    for method in ("put", "patch", "delete"):
        if_match = next(parameter for parameter in task[method]["parameters"] if parameter["name"] == "If-Match")
        assert if_match["in"] == "header" and if_match["required"]
        responses = task[method]["responses"]
        assert responses["412"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/StaleTask"}
        assert responses["428"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
    assert document["components"]["schemas"]["Task"]["properties"]["etag"]["readOnly"] is True
    error = {"$ref": "#/components/schemas/Error"}
    for operation in [tasks["get"], *task.values(), *document["paths"]["/api/board/sprints/{id}/"].values()]:
        responses = operation["responses"]
        assert "400" in responses, "a malformed If-Match or If-None-Match, or an invalid body"
    for operation in [*task.values(), *document["paths"]["/api/board/sprints/{id}/"].values()]:
        assert operation["responses"]["404"]["content"]["application/json"]["schema"] == error


def test_a_task_url_that_does_not_exist_is_a_json_404(as_alice):
    response = as_alice.get(task_url(12345))
    assert response.status_code == 404
    assert response.json() == {"detail": "No Task matches the given query."}


@pytest.mark.parametrize("string", HOSTILE_STRINGS)
@pytest.mark.parametrize("field", ["title", "description", "status", "position", "assignee", "sprint"])
@pytest.mark.parametrize("method", ["post", "put", "patch"])
def test_no_string_in_any_field_of_a_task_gets_more_than_a_400_in_one_line(
    as_alice, bob, caplog, method, field, string
):
    task = create(as_alice, title="Draft", assignee="bob")
    url, headers = (TASKS, {}) if method == "post" else (task_url(task["id"]), {"If-Match": task["etag"]})
    response = getattr(as_alice, method)(
        url, {"title": "Mine", field: HOSTILE_STRINGS[string]}, "application/json", headers=headers
    )
    assert refused_in_one_line(response), (response.status_code, response.content[:300])
    assert list(response.json()) == [field]
    assert list(Task.objects.values_list("title", "assignee__username")) == [("Draft", "bob")]
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR], caplog.text


@pytest.mark.parametrize("string", ["a\x00b", "x" * 100_000, "%ED%A0%80", "%FF%FE"])
@pytest.mark.parametrize("path", [TASKS, f"{TASKS}1/", SPRINTS, f"{SPRINTS}1/", "/board/", "/board/login/"])
def test_no_query_parameter_or_id_gets_a_server_error(as_alice, caplog, path, string):
    """format is DRF's; next the login page's; any other is ignored. The IDs in the URL get any bytes too."""
    create(as_alice)
    query = "&".join(f"{name}={string}" for name in ("format", "next", "page"))
    assert 200 <= as_alice.get(f"{path}?{query}").status_code < 500
    if path.startswith("/api/"):
        assert as_alice.get(f"{path.removesuffix('1/')}{string}/").status_code == 404
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR], caplog.text


# A form is sent as UTF-8 bytes: a lone surrogate cannot be among them (it arrives as U+FFFD's).
@pytest.mark.parametrize("string", [name for name in HOSTILE_STRINGS if "surrogate" not in name])
@pytest.mark.parametrize("field", ["username", "password"])
def test_no_string_in_the_login_form_gets_a_server_error(client, alice, caplog, field, string):
    response = client.post("/board/login/", {"username": "alice", "password": "x", field: HOSTILE_STRINGS[string]})
    assert response.status_code == 200
    assert "Your username and password didn't match. Please try again." in response.text  # the form again
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR], caplog.text
