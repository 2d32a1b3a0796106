"""Reads of organisations and contacts."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from tierdesk.accounts.choices import Role
from tierdesk.accounts.models import User
from tierdesk.orgs.models import Organisation


def visible_organisations(user: User) -> QuerySet[Organisation]:
    return Organisation.objects.restrict(user).select_related("account_manager").order_by("name", "id")


def get_organisation(user: User, pk: int) -> Organisation:
    try:
        return visible_organisations(user).get(pk=pk)
    except Organisation.DoesNotExist:
        raise Http404 from None


def organisation_contacts(user: User, organisation: Organisation) -> QuerySet[User]:
    """Contacts of ``organisation`` that ``user`` may see (a plain customer: only himself)."""
    return (
        User.objects.restrict(user)
        .filter(organisation=organisation, role=Role.CUSTOMER)
        .order_by("last_name", "first_name", "id")
    )
