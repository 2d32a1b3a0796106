"""The front door: everyone lands where his work is."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect


def home(request: HttpRequest) -> HttpResponse:
    """Agents and administrators go to their queues, customers to the portal, strangers to sign-in."""
    user = request.user
    if not user.is_authenticated:
        return redirect("accounts:login")
    if getattr(user, "is_customer", False):
        return redirect("portal:home")
    return redirect("workspace:queue")
