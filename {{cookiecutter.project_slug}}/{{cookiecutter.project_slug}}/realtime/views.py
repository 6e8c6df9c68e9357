"""
The demo page, and the two small endpoints every real-time page needs: a token to
connect with, and the current state to re-fetch after a reconnect.
"""

from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.http import HttpResponseForbidden, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from .models import Message
from .publish import publish, token_for

DEMO_CHANNEL = "demo"
HISTORY = 20  # messages shown, and re-fetched after a reconnect


def authorize(user, channel):
    """Who may listen to what: the one place to decide it. The demo channel is public."""
    return channel == DEMO_CHANNEL


def socket_url(request):
    """REALTIME_URL, or by default the Tornado port on the host the page came from."""
    if settings.REALTIME_URL:
        return settings.REALTIME_URL
    host = urlsplit(f"//{request.get_host()}").hostname
    host = f"[{host}]" if ":" in host else host
    return f"{'wss' if request.is_secure() else 'ws'}://{host}:{settings.REALTIME_PORT}/ws"


def history():
    return [message.as_event() for message in Message.objects.select_related("author")[:HISTORY]]


def demo(request):
    config = {"channel": DEMO_CHANNEL, "tokenUrl": reverse("realtime:token"), "stateUrl": reverse("realtime:state")}
    return render(request, "realtime/demo.html", {"messages": history(), "config": config})


@never_cache
@require_GET
def token(request):
    channel = request.GET.get("channel", "")
    if not authorize(request.user, channel):
        return JsonResponse({"error": "not allowed"}, status=403)
    return JsonResponse({"token": token_for(request.user, channel), "url": socket_url(request)})


@never_cache
@require_GET
def state(request):
    return JsonResponse({"messages": history()})


@require_POST
def send(request):
    """Save a message, then publish it once the transaction has committed."""
    if not request.user.is_authenticated:
        return HttpResponseForbidden("Log in to send messages.")
    text = request.POST.get("text", "").strip()[:500]
    if text:
        with transaction.atomic():
            message = Message.objects.create(author=request.user, text=text)
            publish(DEMO_CHANNEL, message.as_event())  # sent after commit, never on rollback
    return redirect("realtime:demo")
