"""
Serializers turn model instances into JSON and validate what clients send back.

Add one per resource, next to the viewset that uses it in views.py.
https://www.django-rest-framework.org/api-guide/serializers/
"""

from django.contrib.auth import get_user_model
from rest_framework import serializers
from rest_framework.authtoken.serializers import AuthTokenSerializer


class UserSerializer(serializers.ModelSerializer):
    class Meta:
        model = get_user_model()
        fields = ["id", "username", "email", "first_name", "last_name"]
        # Who you are is not yours to change here; your name is.
        read_only_fields = ["id", "username", "email"]


class TokenSerializer(AuthTokenSerializer):
    """DRF's, but a username longer than any can be is a 400 before the login is tried (and recorded)."""

    username = serializers.CharField(
        label="Username",
        write_only=True,
        max_length=get_user_model()._meta.get_field(get_user_model().USERNAME_FIELD).max_length,
    )
