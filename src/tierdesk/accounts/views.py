"""Signing in and out, passwords and the language switch, for agents and customers alike."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse, reverse_lazy
from django.utils.functional import Promise
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import check_for_language
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST
from django.views.generic.base import ContextMixin

from tierdesk.accounts import services

StrOrPromise = str | Promise


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    redirect_authenticated_user = True


class SimplePage(ContextMixin):
    """The one-panel page of every password step (``accounts/simple_form.html``): a heading,
    optionally a sentence and a note below it (with a link of its own), the step's form with its
    button, and a link onwards."""

    template_name: str | None = "accounts/simple_form.html"
    heading: StrOrPromise = ""
    intro: StrOrPromise = ""
    note: StrOrPromise = ""
    note_link: tuple[str, StrOrPromise] | None = None  # (URL name, text)
    submit: StrOrPromise = ""
    link: tuple[str, StrOrPromise] | None = None  # (URL name, text)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        page = {"heading": self.heading, "intro": self.intro, "note": self.note, "submit": self.submit}
        if self.link is not None:
            page |= {"link_url": reverse(self.link[0]), "link_text": self.link[1]}
        if self.note_link is not None:
            page |= {"note_url": reverse(self.note_link[0]), "note_link_text": self.note_link[1]}
        return super().get_context_data(**kwargs) | page


class PasswordChangeView(SimplePage, auth_views.PasswordChangeView):
    success_url = reverse_lazy("accounts:password_change_done")
    heading = _("Change your password")
    submit = _("Change password")


class PasswordChangeDoneView(SimplePage, auth_views.PasswordChangeDoneView):
    heading = _("Password changed")
    intro = _("Your password has been changed.")
    link = ("home", _("Back to work"))


class PasswordResetView(SimplePage, auth_views.PasswordResetView):
    """Mails a one-time link; says the same whether or not the address is known, so the form
    cannot be used to find out who has an account."""

    heading = _("Reset your password")
    intro = _("Enter the e-mail address of your account; we will send you a link to choose a new password.")
    submit = _("Send me a link")
    email_template_name = "accounts/password_reset_email.txt"
    subject_template_name = "accounts/password_reset_subject.txt"
    success_url = reverse_lazy("accounts:password_reset_done")


class PasswordResetDoneView(SimplePage, auth_views.PasswordResetDoneView):
    heading = _("Check your mail")
    intro = _("If an account uses that address, a link to choose a new password is on its way.")
    # Contacts the desk created from a call or a mail have no password, and Django mails them
    # no reset link; registering with the address is how they get their account.
    note = _(
        "Never chose a password because you only reached us by phone, e-mail or the web form? "
        "Then register on the portal with the same address instead:"
    )
    note_link = ("portal:register", _("Create your account"))
    link = ("accounts:login", _("Back to sign-in"))


class PasswordResetConfirmView(SimplePage, auth_views.PasswordResetConfirmView):
    success_url = reverse_lazy("accounts:password_reset_complete")
    heading = _("Choose a new password")
    submit = _("Set password")


class PasswordResetCompleteView(SimplePage, auth_views.PasswordResetCompleteView):
    heading = _("Password set")
    intro = _("Your new password is ready.")
    link = ("accounts:login", _("Sign in"))


@require_POST
def set_language(request: HttpRequest) -> HttpResponse:
    """Switch the language: remembered in a cookie, and as the person's own choice when signed in."""
    language = request.POST.get("language", "")
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        target = reverse("home")
    response = HttpResponseRedirect(target)
    if language in dict(settings.LANGUAGES) and check_for_language(language):
        if request.user.is_authenticated:
            services.update_user(request.user, actor=request.user, changes={"language": language})
        response.set_cookie(
            settings.LANGUAGE_COOKIE_NAME,
            language,
            max_age=settings.LANGUAGE_COOKIE_AGE,
            samesite="Lax",
            secure=settings.SESSION_COOKIE_SECURE,
        )
    return response
