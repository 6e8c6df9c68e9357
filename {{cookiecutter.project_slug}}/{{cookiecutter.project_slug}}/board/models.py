"""
The board's data: tasks in three columns, optionally grouped into sprints.

The database is the one source of truth. The API serves it with ETags (views.py), and
every change is announced to open boards after it commits (events.py).
"""

from django.conf import settings
from django.db import models
from django.utils import timezone


class Sprint(models.Model):
    """A time box of work, as in the book. Tasks may belong to one; the board can show one at a time."""

    name = models.CharField(max_length=100)
    end = models.DateField(help_text="The sprint's last day.")

    class Meta:
        ordering = ["end", "id"]

    def __str__(self):
        return self.name


class Task(models.Model):
    class Status(models.TextChoices):
        TODO = "todo", "To do"
        DOING = "doing", "Doing"
        DONE = "done", "Done"

    title = models.CharField(max_length=200)
    description = models.TextField(max_length=2000, blank=True)
    status = models.CharField(max_length=5, choices=Status, default=Status.TODO)
    # The order within a column, smallest first. A move sets only the moved task's position, between
    # its new neighbours' (browsers use the midpoint), so no other task changes and no other ETag goes stale.
    position = models.FloatField(default=0)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="board_tasks"
    )
    sprint = models.ForeignKey(Sprint, null=True, blank=True, on_delete=models.SET_NULL, related_name="tasks")
    # Counts the writes: save_if_unchanged() writes only over the version it read.
    version = models.PositiveIntegerField(default=1, editable=False)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, editable=False, related_name="+"
    )

    class Meta:
        ordering = ["position", "id"]

    def __str__(self):
        return self.title

    def save_if_unchanged(self, **changes):
        """Apply `changes` and save them, unless someone saved this task since it was read; True if saved.

        One `UPDATE ... WHERE id = %s AND version = %s`: between two writers of the same version exactly one
        wins, on every database, without holding a lock while the request is being handled.
        """
        changes |= {"version": self.version + 1, "updated": timezone.now()}
        if not Task.objects.filter(pk=self.pk, version=self.version).update(**changes):
            return False
        for field, value in changes.items():
            setattr(self, field, value)
        return True

    def delete_if_unchanged(self):
        """Delete this task, unless someone saved it since it was read; True if deleted."""
        deleted, _ = Task.objects.filter(pk=self.pk, version=self.version).delete()
        return deleted > 0

    @classmethod
    def end_of(cls, status):
        """A position after every task in the column, for a new task."""
        last = cls.objects.filter(status=status).aggregate(last=models.Max("position"))["last"]
        return 0.0 if last is None else last + 1
