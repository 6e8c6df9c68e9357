"""The endpoint every real-time page needs, a token to connect with, and a demo page that stores nothing."""

from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpResponseForbidden, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from .publish import publish, token_for

DEMO_CHANNEL = "demo"


def authorize(user, channel):
    """Who may listen to what: the one place to decide it (README.md shows more rules)."""
    return channel == DEMO_CHANNEL


def socket_grant(request, token):
    """What a page's getToken() gets: the token; the socket's URL, REALTIME_URL or by default the Tornado port on
    the host the page came from; and in development the command that starts the server, which a page that cannot
    reach it shows (realtime.js: RealtimeSocket.notAnswering)."""
    host = urlsplit(f"//{request.get_host()}").hostname
    host = f"[{host}]" if ":" in host else host
    url = settings.REALTIME_URL or f"{'wss' if request.is_secure() else 'ws'}://{host}:{settings.REALTIME_PORT}/ws"
    grant = {"token": token, "url": url}
    if settings.DEBUG:
        grant["start"] = "PATH=.venv/bin:$PATH honcho start web realtime"  # the README's Run it
    return JsonResponse(grant)


def demo(request):
    config = {"channel": DEMO_CHANNEL, "tokenUrl": reverse("realtime:token")}
    return render(request, "realtime/demo.html", {"config": config})


@never_cache
@require_GET
def token(request):
    channel = request.GET.get("channel", "")
    if not authorize(request.user, channel):
        return JsonResponse({"error": "not allowed"}, status=403)
    return socket_grant(request, token_for(request.user, channel))


@require_POST
def send(request):
    """Publish a message to the demo channel, and save nothing: a page opened later starts empty."""
    if not request.user.is_authenticated:
        return HttpResponseForbidden("Log in to send messages.")
    text = request.POST.get("text", "").strip()[:500]
    if text:
        publish(DEMO_CHANNEL, {"author": request.user.get_username(), "text": text})
    return redirect("realtime:demo")
