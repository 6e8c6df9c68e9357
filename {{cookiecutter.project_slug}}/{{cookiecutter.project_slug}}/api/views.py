"""
API views. settings.REST_FRAMEWORK makes each one need a login, answer JSON, and be throttled and paginated;
the two below that must work without a login say so.

Add a resource as a viewset, e.g.

    class NoteViewSet(viewsets.ModelViewSet):
        queryset = Note.objects.none()  # tells the docs the model; get_queryset() picks the rows
        serializer_class = NoteSerializer

        def get_queryset(self):
            return Note.objects.filter(owner=self.request.user)  # each user sees only their own

then one router line in urls.py; README.md walks through it with a test.
https://www.django-rest-framework.org/api-guide/viewsets/
"""

from django.conf import settings
from django.http import HttpResponse
from django.urls import Resolver404, resolve
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularSwaggerView
from rest_framework import exceptions, generics
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.permissions import AllowAny
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from .serializers import TokenSerializer, UserSerializer


class MeView(generics.RetrieveUpdateAPIView):
    """The user the token or session belongs to. PATCH changes the first or last name."""

    serializer_class = UserSerializer
    http_method_names = ["get", "patch", "head", "options"]

    def get_object(self):
        return self.request.user


class TokenView(ObtainAuthToken):
    """POST a username and password; the answer's token goes in each request as "Authorization: Token <token>"."""

    authentication_classes = []  # logging in needs no login
    serializer_class = TokenSerializer
    throttle_classes = api_settings.DEFAULT_THROTTLE_CLASSES  # DRF's view has none: no unlimited password guessing

    def post(self, request, *args, **kwargs):
        try:
            return super().post(request, *args, **kwargs)
        except exceptions.ValidationError:
            if getattr(request, "axes_locked_out", False):  # django-axes (settings.py) locked this username out
                message = "Too many failed logins for this username."
                raise exceptions.Throttled(settings.AXES_COOLOFF_TIME.total_seconds(), message) from None
            raise


class DocsView(SpectacularSwaggerView):
    """Swagger UI (/api/docs/) under the Content-Security-Policy: api/docs.html gives its inline code the nonce."""

    template_name = "api/docs.html"

    @extend_schema(exclude=True)  # a page about the API, not part of it
    def get(self, request, *args, **kwargs):
        response = super().get(request, *args, **kwargs)
        # drf-spectacular sends Cross-Origin-Opener-Policy: unsafe-none for OAuth2 pop-ups, which this API does not
        # use; without it, SecurityMiddleware isolates this page as it does every other (same-origin).
        del response.headers["Cross-Origin-Opener-Policy"]
        return response

    def options(self, request, *args, **kwargs):
        # DRF answers OPTIONS with a description of the endpoint, which this page would render through its HTML
        # template; without get()'s context that is TemplateDoesNotExist, a 500. Django's answer instead: the
        # methods, in the Allow header that DRF adds.
        return HttpResponse()


class NotFoundView(APIView):
    """Any other path under /api/: a JSON 404 (Django's own 404 page is HTML)."""

    permission_classes = [AllowAny]  # say "no such endpoint" before "log in"
    schema = None  # not an endpoint

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)  # negotiation and throttling, as for any API request
        path = request.path_info
        try:
            slash_helps = not path.endswith("/") and getattr(resolve(path + "/").func, "cls", None) is not NotFoundView
        except Resolver404:
            slash_helps = False
        if slash_helps:
            raise exceptions.NotFound(f"No endpoint at {path}; did you mean {path}/ (with the slash)?")
        raise exceptions.NotFound(f"No endpoint at {path}; see the list at /api/docs/.")
