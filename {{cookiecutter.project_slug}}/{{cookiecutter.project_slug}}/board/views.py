"""
The board's page, its socket token, and its REST API.

Who may do what: anyone logged in sees and edits the whole board (a team's board);
anonymous visitors get nothing (the page sends them to log in, the API answers 401).
To let anonymous visitors watch, give TaskViewSet `permission_classes = [IsAuthenticatedOrReadOnly]`
and let token() grant them a token (token_for() accepts an anonymous user).

The API, under /api/board/ (see the schema at /api/docs/):

    GET    tasks/        every task, with an ETag; If-None-Match -> 304 when nothing changed
    POST   tasks/        a new task (at the end of its column unless a position is given)
    GET    tasks/ID/     one task, with ETag and Last-Modified
    PATCH  tasks/ID/     change or move it: If-Match required (428 without), 412 if stale
    PUT    tasks/ID/     replace it: the same rules
    DELETE tasks/ID/     the same rules
    GET    sprints/      the sprints, to group tasks by (sprints/ID/: one), with ETags as tasks/

Every request: an If-Match or If-None-Match that is neither * nor ETags in double quotes -> 400.
Every change's answer: Realtime-Event: sent (its event reached the real-time broker, so every
open board gets it) or dropped (it did not, Redis being down say: the change is saved, and
other boards show it only when they next fetch the board).
"""

from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import JsonResponse
from django.middleware.csrf import get_token
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions, status, viewsets
from rest_framework.response import Response

from ..realtime.publish import token_for
from ..realtime.views import socket_grant
from . import events
from .conditional import Preconditions, cacheable, etag_of, if_match_fails, if_none_match_fails, validators
from .models import Sprint, Task
from .serializers import SprintSerializer, StaleTaskSerializer, TaskSerializer


@never_cache  # it carries this user's CSRF token
@login_required(login_url="board:login")
def page(request):
    """The board: an empty frame that board.js fills from the API, configured by json_script."""
    users = get_user_model().objects.filter(is_active=True).order_by(get_user_model().USERNAME_FIELD)
    config = {
        "user": request.user.get_username(),
        "users": [user.get_username() for user in users],
        "statuses": [{"value": value, "label": label} for value, label in Task.Status.choices],
        "channel": events.CHANNEL,
        "tasksUrl": reverse("board:task-list"),
        "sprintsUrl": reverse("board:sprint-list"),
        "tokenUrl": reverse("board:token"),
        "loginUrl": reverse("board:login"),
        "csrfToken": get_token(request),
    }
    return render(request, "board/board.html", {"config": config, "statuses": Task.Status.choices})


@never_cache
@require_GET
def token(request):
    """A short-lived token for the board's channel and the socket's URL (see realtime/README.md)."""
    if not request.user.is_authenticated:
        return JsonResponse({"detail": "Log in to follow the board."}, status=403)
    return socket_grant(request, token_for(request.user, events.CHANNEL))


class PreconditionRequired(exceptions.APIException):
    status_code = 428
    default_detail = "Send the task's ETag in an If-Match header, so a change made since you read it is not lost."
    default_code = "precondition_required"


IF_MATCH = OpenApiParameter(
    "If-Match",
    location=OpenApiParameter.HEADER,
    required=True,
    description="The ETag of the task as you last read it (from GET, a change, or an event).",
)
IF_NONE_MATCH = OpenApiParameter(
    "If-None-Match",
    location=OpenApiParameter.HEADER,
    description="The ETag you already have: the answer is 304 with no body while it is still current.",
)
ETAG = OpenApiParameter(
    "ETag", location=OpenApiParameter.HEADER, response=[200, 201, 304, 412], description="The answer's strong ETag."
)
REALTIME_EVENT = OpenApiParameter(
    "Realtime-Event",
    location=OpenApiParameter.HEADER,
    response=[200, 201, 204],
    enum=["sent", "dropped"],
    description="Whether the change's event reached the real-time broker: `sent`, every open board gets it; "
    "`dropped` (the broker is down), the change is saved but other boards show it only when they next fetch "
    "the board. Absent when nothing changed.",
)
LAST_MODIFIED = OpenApiParameter(
    "Last-Modified",
    location=OpenApiParameter.HEADER,
    response=[200, 201, 304, 412],
    description="When the task changed.",
)
NOT_MODIFIED = OpenApiResponse(description="Not Modified: your copy, the one with that ETag, is current. No body.")
MALFORMED = OpenApiResponse(
    {"$ref": "#/components/schemas/Error"}, description="If-Match or If-None-Match is neither * nor quoted ETags."
)
STALE = OpenApiResponse(StaleTaskSerializer, description="Precondition Failed: the task changed since you read it.")
NO_IF_MATCH = OpenApiResponse(
    {"$ref": "#/components/schemas/Error"}, description="Precondition Required: the If-Match header is missing."
)
CHANGE = {
    "parameters": [IF_MATCH, ETAG, LAST_MODIFIED, REALTIME_EVENT],
    "responses": {200: TaskSerializer, 412: STALE, 428: NO_IF_MATCH},
}


@extend_schema_view(
    list=extend_schema(
        parameters=[IF_NONE_MATCH, ETAG],
        responses={200: TaskSerializer(many=True), 304: NOT_MODIFIED, 400: MALFORMED},
    ),
    retrieve=extend_schema(
        parameters=[IF_NONE_MATCH, ETAG, LAST_MODIFIED],
        responses={200: TaskSerializer, 304: NOT_MODIFIED, 400: MALFORMED},
    ),
    create=extend_schema(parameters=[ETAG, LAST_MODIFIED, REALTIME_EVENT]),
    update=extend_schema(**CHANGE),
    partial_update=extend_schema(**CHANGE),
    destroy=extend_schema(
        parameters=[IF_MATCH, REALTIME_EVENT], responses={204: None, 400: MALFORMED, 412: STALE, 428: NO_IF_MATCH}
    ),
)
class TaskViewSet(Preconditions, viewsets.ModelViewSet):
    """The board's tasks. Reads carry ETags; every change needs the current one in If-Match."""

    queryset = Task.objects.select_related("assignee", "updated_by")
    serializer_class = TaskSerializer
    pagination_class = None  # the board shows every task at once; archive done ones to keep it short

    def list(self, request, *args, **kwargs):
        data = self.get_serializer(self.get_queryset(), many=True).data
        return cacheable(request, Response(data, headers=validators(etag_of(data))))

    def retrieve(self, request, *args, **kwargs):
        task = self.get_object()
        return cacheable(request, self.answer(task), last_modified=task.updated)

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        fields = serializer.validated_data
        with transaction.atomic():
            if fields.get("position") is None:
                fields["position"] = Task.end_of(fields.get("status", Task.Status.TODO))
            task = serializer.save(updated_by=request.user)
            announced = events.task_changed("created", task, request.user)
        return self.answer(task, status.HTTP_201_CREATED, announced)

    def update(self, request, *args, partial=False, **kwargs):
        task = self.get_object()
        if stale := self.check_if_match(task):
            return stale
        serializer = self.get_serializer(task, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        changes = {name: value for name, value in serializer.validated_data.items() if getattr(task, name) != value}
        if not changes:  # nothing to write, nothing to announce
            return self.answer(task)
        with transaction.atomic():
            if not task.save_if_unchanged(**changes, updated_by=request.user):
                return self.stale(task)  # someone else saved it since check_if_match()
            action = "moved" if changes.keys() <= {"status", "position"} else "updated"
            announced = events.task_changed(action, task, request.user)
        return self.answer(task, announced=announced)

    def destroy(self, request, *args, **kwargs):
        task = self.get_object()
        if stale := self.check_if_match(task):
            return stale
        with transaction.atomic():
            if not task.delete_if_unchanged():
                return self.stale(task)
            announced = events.task_deleted(task, request.user)
        return Response(status=status.HTTP_204_NO_CONTENT, headers=told(announced))

    def check_if_match(self, task):
        """None when the request may change `task`; else the answer: 428 without If-Match, 412 if stale."""
        if "If-Match" not in self.request.headers:
            raise PreconditionRequired()
        etag = self.get_serializer(task).data["etag"]
        if if_match_fails(self.request, etag):
            return self.stale(task)
        if if_none_match_fails(self.request, etag):  # it names the current version, or is *
            return self.stale(task, "If-None-Match names this version of the task, so nothing was changed.")
        return None

    def stale(self, task, detail="{who} changed this task after you read it; this is how it is now."):
        """412 with the task as it is now, so the client can show what changed and let its user decide."""
        try:
            task.refresh_from_db()
        except Task.DoesNotExist:
            raise exceptions.NotFound("This task has been deleted.") from None
        current = self.get_serializer(task).data
        detail = detail.format(who=task.updated_by or "Someone")
        headers = validators(current["etag"], task.updated)
        return Response({"detail": detail, "current": current}, status.HTTP_412_PRECONDITION_FAILED, headers=headers)

    def answer(self, task, code=status.HTTP_200_OK, announced=None):
        data = self.get_serializer(task).data
        return Response(data, code, headers={**validators(data["etag"], task.updated), **told(announced)})


def told(announced):
    """The Realtime-Event header for a change's Publication, once the commit has sent it. Inside a transaction
    that outlives the view (ATOMIC_REQUESTS) the event goes out after the answer: no header, nothing claimed."""
    if announced is None or announced.sent is None:
        return {}
    return {"Realtime-Event": "sent" if announced.sent else "dropped"}


@extend_schema_view(
    list=extend_schema(
        parameters=[IF_NONE_MATCH, ETAG],
        responses={200: SprintSerializer(many=True), 304: NOT_MODIFIED, 400: MALFORMED},
    ),
    retrieve=extend_schema(
        parameters=[IF_NONE_MATCH, ETAG], responses={200: SprintSerializer, 304: NOT_MODIFIED, 400: MALFORMED}
    ),
)
class SprintViewSet(Preconditions, viewsets.ReadOnlyModelViewSet):
    """The sprints (made in the admin), to group the board's tasks by; with ETags, as the tasks."""

    queryset = Sprint.objects.all()
    serializer_class = SprintSerializer
    pagination_class = None

    def list(self, request, *args, **kwargs):
        data = self.get_serializer(self.get_queryset(), many=True).data
        return cacheable(request, Response(data, headers=validators(etag_of(data))))

    def retrieve(self, request, *args, **kwargs):
        data = self.get_serializer(self.get_object()).data
        return cacheable(request, Response(data, headers=validators(etag_of(data))))
