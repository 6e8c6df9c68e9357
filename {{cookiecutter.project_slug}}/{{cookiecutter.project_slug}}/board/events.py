"""
Every change to a task is announced on the "board" channel once its transaction commits:

    {"action": "created" | "updated" | "moved" | "deleted",
     "task": {...the task as the API shows it, its "etag" included...}
             (for "deleted": only its "id" and "title"),
     "by": the username of whoever made the change}

Browsers apply it to the board they show, and can edit the task next with its ETag
without fetching it first. Events can be lost (the real-time add-on delivers at most
once), so after every reconnect a browser fetches the whole board again: events are
a shortcut, the database stays the truth. Each function returns publish()'s
Publication: after the commit, whether the broker took the event (views.py tells the
browser, which must not claim that other boards saw a change that never reached them).
"""

from ..realtime.publish import publish
from .serializers import TaskSerializer

CHANNEL = "board"


def task_changed(action, task, user):
    """Announce that `user` created, updated or moved `task`, once the current transaction commits."""
    return announce({"action": action, "task": TaskSerializer(task).data, "by": user.get_username()})


def task_deleted(task, user):
    """Announce that `user` deleted `task`, once the current transaction commits."""
    return announce({"action": "deleted", "task": {"id": task.pk, "title": task.title}, "by": user.get_username()})


def announce(event):
    # publish() waits for the commit: never about a change that is rolled back, nor before other requests can read it.
    return publish(CHANNEL, event)
