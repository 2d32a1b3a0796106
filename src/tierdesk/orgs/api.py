"""HTTP API for organisations and their contacts."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema, Status
from pydantic import Field

from tierdesk.common.api import Id, InputSchema, caller
from tierdesk.orgs import selectors, services

router = Router(tags=["organisations"])


class OrganisationOut(Schema):
    id: int
    name: str
    short_name: str
    is_provider: bool
    account_manager_id: int | None
    email_domains: list[str]
    phone: str
    is_active: bool


class OrganisationIn(InputSchema):
    name: str = Field(..., max_length=200)
    short_name: str = Field("", max_length=50)
    email_domains: list[str] = []
    phone: str = Field("", max_length=40)
    notes: str = ""


class ContactOut(Schema):
    id: int
    username: str
    email: str
    first_name: str
    last_name: str
    phone: str
    is_org_manager: bool
    is_active: bool


class ContactIn(InputSchema):
    email: str = Field(..., max_length=254)
    first_name: str = Field("", max_length=150)
    last_name: str = Field("", max_length=150)
    phone: str = Field("", max_length=40)
    is_org_manager: bool = False


@router.get("", response=list[OrganisationOut], summary="Organisations you may see")
def list_organisations(request: HttpRequest) -> Any:
    return selectors.visible_organisations(caller(request))


@router.post("", response={201: OrganisationOut}, summary="Create an organisation (administrators)")
def create_organisation(request: HttpRequest, payload: OrganisationIn) -> Any:
    return Status(201, services.create_organisation(actor=caller(request), **payload.model_dump()))


@router.get("/{org_id}", response=OrganisationOut, summary="Read an organisation")
def read_organisation(request: HttpRequest, org_id: Id) -> Any:
    return selectors.get_organisation(caller(request), org_id)


@router.get("/{org_id}/contacts", response=list[ContactOut], summary="Contacts of an organisation")
def list_contacts(request: HttpRequest, org_id: Id) -> Any:
    user = caller(request)
    return selectors.organisation_contacts(user, selectors.get_organisation(user, org_id))


@router.post(
    "/{org_id}/contacts", response={201: ContactOut}, summary="Add a contact (agents, administrators)"
)
def create_contact(request: HttpRequest, org_id: Id, payload: ContactIn) -> Any:
    user = caller(request)
    organisation = selectors.get_organisation(user, org_id)
    return Status(201, services.create_contact(organisation, actor=user, **payload.model_dump()))
