from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AuditConfig(AppConfig):
    """The audit trail: one table of events written by services in the same transaction."""

    name = "tierdesk.audit"
    label = "audit"
    verbose_name = _("Audit")
