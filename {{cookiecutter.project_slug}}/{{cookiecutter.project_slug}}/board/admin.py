"""The board in Django's admin. Its changes are announced to open boards like the API's."""

from django.contrib import admin
from django.db import transaction

from . import events
from .models import Sprint, Task


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin):
    list_display = ["title", "status", "assignee", "sprint", "updated", "updated_by"]
    list_filter = ["status", "sprint", "assignee"]
    search_fields = ["title", "description"]
    readonly_fields = ["version", "created", "updated", "updated_by"]

    def save_model(self, request, obj, form, change):
        # The admin's form has no If-Match: the last save wins here. The new version makes an API
        # edit that started from the previous one fail with 412 instead of undoing this one.
        obj.updated_by = request.user
        if change:
            obj.version += 1
        with transaction.atomic():  # each event is sent once its change has committed
            super().save_model(request, obj, form, change)
            events.task_changed("updated" if change else "created", obj, request.user)

    def delete_model(self, request, obj):
        with transaction.atomic():
            events.task_deleted(obj, request.user)
            super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        with transaction.atomic():
            for task in queryset:
                events.task_deleted(task, request.user)
            super().delete_queryset(request, queryset)


@admin.register(Sprint)
class SprintAdmin(admin.ModelAdmin):
    list_display = ["name", "end"]
