"""Who may use the workspace: signed-in agents and administrators; others get a 404."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, cast

from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest
from django.http.response import HttpResponseBase

from tierdesk.accounts.models import User

View = Callable[..., HttpResponseBase]  # pages and file downloads


def staff_required(view: View) -> View:
    """Strangers are sent to sign in; customers get a 404 (the workspace does not exist for them)."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not request.user.is_staff_member:
            raise Http404
        return view(request, *args, **kwargs)

    return wrapper


def staff(request: HttpRequest) -> User:
    """The signed-in staff member (after ``staff_required``)."""
    return cast(User, request.user)
