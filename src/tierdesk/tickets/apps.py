from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TicketsConfig(AppConfig):
    """Tickets, support lines and teams, the conversation, attachments and the workflow."""

    name = "tierdesk.tickets"
    label = "tickets"
    verbose_name = _("Tickets")

    def ready(self) -> None:
        # Any write of a line or a matrix cell (services, admin, tests, data fixes in a shell)
        # drops this process's cached desk configuration. Other processes follow within
        # selectors.DESK_CONFIG_TTL_SECONDS. This is cache upkeep, not audit: audit is explicit
        # in the services.
        from django.db.models.signals import post_delete, post_save

        from tierdesk.tickets.models import PriorityMatrixEntry, SupportLine
        from tierdesk.tickets.selectors import forget_desk_config

        for model in (SupportLine, PriorityMatrixEntry):
            for signal in (post_save, post_delete):
                signal.connect(forget_desk_config, sender=model, dispatch_uid=f"desk-config-{model.__name__}")
