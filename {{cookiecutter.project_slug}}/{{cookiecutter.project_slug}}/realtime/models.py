"""The demo's data. The database is the truth; events only say "something changed"."""

from django.conf import settings
from django.db import models


class Message(models.Model):
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    text = models.CharField(max_length=500)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self):
        return self.text

    def as_event(self):
        author, created = self.author.get_username(), self.created.isoformat()
        return {"id": self.pk, "author": author, "text": self.text, "created": created}
