from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TicketsConfig(AppConfig):
    """Tickets, support lines and teams, the conversation, attachments and the workflow."""

    name = "tierdesk.tickets"
    label = "tickets"
    verbose_name = _("Tickets")
