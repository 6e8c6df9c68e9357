"""
Serializers turn model instances into JSON and validate what clients send back.

Add one per resource, next to the viewset that uses it in views.py.
https://www.django-rest-framework.org/api-guide/serializers/
"""

from django.contrib.auth import get_user_model
from rest_framework import serializers


class UserSerializer(serializers.ModelSerializer):
    class Meta:
        model = get_user_model()
        fields = ["id", "username", "email", "first_name", "last_name"]
        # Who you are is not yours to change here; your name is.
        read_only_fields = ["id", "username", "email"]
