"""Forms of the customer portal and the public web forms. They only parse input; the rules
live in the services, whose errors the views put back on the form."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.core.files.uploadedfile import UploadedFile
from django.utils.translation import gettext_lazy as _

from tierdesk.common.errors import DomainError
from tierdesk.common.limits import BODY_MAX_CHARS, REASON_MAX_CHARS, SUBJECT_MAX_CHARS
from tierdesk.portal.selectors import STATUS_FILTERS, active_categories
from tierdesk.tickets.models import Category


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files in one input; the services check their size and count."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput(attrs={"multiple": True}))
        kwargs.setdefault("required", False)
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[UploadedFile]:
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(item, initial) for item in data if item]
        return [single(data, initial)] if data else []


def add_domain_error(form: forms.Form, error: DomainError) -> None:
    """Show a service's refusal on the field it names (or above the form)."""
    field = error.field if error.field in form.fields else None
    form.add_error(field, error.message)


class RegistrationForm(forms.Form):
    first_name = forms.CharField(label=_("First name"), max_length=150)
    last_name = forms.CharField(label=_("Last name"), max_length=150, required=False)
    email = forms.EmailField(
        label=_("Work e-mail"),
        max_length=254,
        help_text=_("Self-registration works with your organisation's e-mail domain."),
    )
    phone = forms.CharField(label=_("Phone"), max_length=40, required=False)
    password = forms.CharField(
        label=_("Password"), widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}), strip=False
    )
    password2 = forms.CharField(
        label=_("Password again"),
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        strip=False,
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("password") and data.get("password2") and data["password"] != data["password2"]:
            self.add_error("password2", _("The two passwords differ."))
        return data


class InvitationForm(forms.Form):
    email = forms.EmailField(label=_("E-mail of the person to invite"), max_length=254)


class FilterForm(forms.Form):
    status = forms.ChoiceField(label=_("Status"), required=False)
    requester = forms.TypedChoiceField(label=_("Requester"), required=False, coerce=int, empty_value=None)
    q = forms.CharField(label=_("Text or number"), required=False, max_length=100)

    def __init__(self, *args: Any, requesters: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["status"]).choices = [("", _("Any"))] + [
            (k, v[0]) for k, v in STATUS_FILTERS.items()
        ]
        if requesters is None:
            del self.fields["requester"]
        else:
            cast(forms.ChoiceField, self.fields["requester"]).choices = [("", _("Anyone"))] + [
                (u.pk, u.get_full_name() or u.email or u.username) for u in requesters
            ]


class NewRequestForm(forms.Form):
    category = forms.ModelChoiceField(
        label=_("Category"), queryset=Category.objects.none(), required=False, empty_label=_("Not sure")
    )
    subject = forms.CharField(label=_("Subject"), max_length=SUBJECT_MAX_CHARS)
    description = forms.CharField(
        label=_("Description"),
        widget=forms.Textarea(attrs={"rows": 8}),
        max_length=BODY_MAX_CHARS,
        help_text=_("What happened, since when, and what you already tried."),
    )
    attachments = MultipleFileField(
        label=_("Attachments"), help_text=_("Screenshots, logs; several files allowed.")
    )

    def __init__(self, *args: Any, suggest_url: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["category"].queryset = active_categories()  # type: ignore[attr-defined]
        if suggest_url:
            # While the customer types the subject, the knowledge base suggests articles
            # (HTMX, after a pause; without JavaScript the form is just the form).
            self.fields["subject"].widget.attrs.update(
                {
                    "hx-get": suggest_url,
                    # A form sent back with errors shows the suggestions for its subject again.
                    "hx-trigger": "input changed delay:300ms"
                    + (", load" if self.is_bound and self.data.get("subject") else ""),
                    "hx-target": "#kb-suggestions",
                    "hx-swap": "innerHTML",
                    "hx-sync": "this:replace",
                    "aria-controls": "kb-suggestions",
                    "autocomplete": "off",
                }
            )


class ReplyForm(forms.Form):
    body = forms.CharField(
        label=_("Your reply"), widget=forms.Textarea(attrs={"rows": 5}), max_length=BODY_MAX_CHARS
    )
    attachments = MultipleFileField(label=_("Attachments"))


RATING_CHOICES = [
    (1, _("1 — very poor")),
    (2, _("2 — poor")),
    (3, _("3 — fair")),
    (4, _("4 — good")),
    (5, _("5 — excellent")),
]


class RatingForm(forms.Form):
    rating = forms.TypedChoiceField(
        label=_("How satisfied are you with the resolution?"),
        choices=RATING_CHOICES,
        coerce=int,
        widget=forms.RadioSelect,
    )
    comment = forms.CharField(
        label=_("Comment (optional)"),
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        max_length=REASON_MAX_CHARS,
    )


class HoneypotForm(forms.Form):
    """A field people never see (hidden by CSS class ``hp``) but naive bots fill in."""

    website = forms.CharField(
        label=_("Leave this field empty"),
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off", "tabindex": "-1"}),
    )

    def is_spam(self) -> bool:
        return bool(self.data.get("website"))

    def payload(self) -> dict[str, Any]:
        """The cleaned fields without the honeypot: the keyword arguments of the form's service."""
        return {name: value for name, value in self.cleaned_data.items() if name != "website"}


# The field names of the public forms are the keyword arguments of their services.
class WebRequestForm(HoneypotForm):
    name = forms.CharField(label=_("Your name"), max_length=150)
    email = forms.EmailField(label=_("Work e-mail"), max_length=254)
    phone = forms.CharField(label=_("Phone (optional)"), max_length=40, required=False)
    subject = forms.CharField(label=_("Subject"), max_length=SUBJECT_MAX_CHARS)
    description = forms.CharField(
        label=_("Description"), widget=forms.Textarea(attrs={"rows": 7}), max_length=BODY_MAX_CHARS
    )
    field_order = ["name", "email", "phone", "subject", "description", "website"]


class CallbackForm(HoneypotForm):
    name = forms.CharField(label=_("Your name"), max_length=150)
    phone = forms.CharField(
        label=_("Phone number"), max_length=40, widget=forms.TextInput(attrs={"type": "tel"})
    )
    convenient_time = forms.CharField(
        label=_("Convenient time"),
        max_length=200,
        required=False,
        help_text=_("For example: today after 3 pm, or tomorrow morning."),
    )
    email = forms.EmailField(label=_("Work e-mail"), max_length=254)
    about = forms.CharField(
        label=_("What is it about?"), widget=forms.Textarea(attrs={"rows": 4}), max_length=2_000
    )
    field_order = ["name", "phone", "convenient_time", "email", "about", "website"]
