"""What clients see of the board, and what they may send: the same JSON in the API and in events."""

from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from .conditional import etag_of
from .models import Sprint, Task

User = get_user_model()


class SprintSerializer(serializers.ModelSerializer):
    class Meta:
        model = Sprint
        fields = ["id", "name", "end"]


class Username(serializers.SlugRelatedField):
    """A user, by username. What no username can be (not a string, too long, NUL or a lone surrogate) is refused
    with CharField's messages before the lookup, which PostgreSQL would answer with an error (it cannot hold NUL)."""

    username = serializers.CharField(max_length=User._meta.get_field(User.USERNAME_FIELD).max_length)

    def to_internal_value(self, data):
        return super().to_internal_value(self.username.run_validation(data))


class TaskSerializer(serializers.ModelSerializer):
    # People by their username, as the board shows them.
    assignee = Username(
        slug_field=User.USERNAME_FIELD,
        queryset=User.objects.filter(is_active=True),
        allow_null=True,
        required=False,
        help_text="The username of the person doing it, or null.",
    )
    updated_by = serializers.SlugRelatedField(slug_field=User.USERNAME_FIELD, read_only=True)
    etag = serializers.SerializerMethodField()

    class Meta:
        model = Task
        fields = [
            "id",
            "title",
            "description",
            "status",
            "position",
            "assignee",
            "sprint",
            "version",
            "created",
            "updated",
            "updated_by",
            "etag",
        ]
        read_only_fields = ["version", "created", "updated"]
        extra_kwargs = {
            "position": {"required": False, "help_text": "Order in the column, smallest first; new: at the end."},
            "version": {"help_text": "Goes up by one with every change."},
            # Not DRF's '"<what was sent>" is not a valid choice.': a value is not echoed back, whatever its size.
            "status": {"error_messages": {"invalid_choice": f"Must be one of {', '.join(Task.Status.values)}."}},
        }

    @extend_schema_field({"type": "string", "description": "The task's ETag, for If-Match; as in the ETag header."})
    def get_etag(self, task):
        return None  # to_representation() fills it in, from all the other fields

    def to_representation(self, task):
        data = super().to_representation(task)
        data["etag"] = etag_of(data)
        return data


class StaleTaskSerializer(serializers.Serializer):
    """The 412 answer: the task as it is now, to show the person whose edit was refused."""

    detail = serializers.CharField()
    current = TaskSerializer()
