from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TicketsConfig(AppConfig):
    """Tickets, support lines and teams, the conversation, attachments and the workflow."""

    name = "tierdesk.tickets"
    label = "tickets"
    verbose_name = _("Tickets")

    def ready(self) -> None:
        # Any write of a line, a team, a team's members or organisations, or a matrix cell
        # (services, admin, tests, data fixes in a shell) drops this process's cached desk
        # configuration and agent scopes; other processes follow within
        # selectors.DESK_CONFIG_TTL_SECONDS. This is cache upkeep, not audit: audit is explicit
        # in the services.
        from django.db.models import Model
        from django.db.models.signals import m2m_changed, post_delete, post_save

        from tierdesk.tickets.models import PriorityMatrixEntry, SupportLine, Team
        from tierdesk.tickets.selectors import forget_agent_scopes, forget_desk_config

        config_models: tuple[type[Model], ...] = (SupportLine, PriorityMatrixEntry)
        scope_models: tuple[type[Model], ...] = (SupportLine, Team)
        for signal in (post_save, post_delete):
            for model in config_models:
                signal.connect(forget_desk_config, sender=model, dispatch_uid=f"desk-config-{model.__name__}")
            for model in scope_models:
                signal.connect(forget_agent_scopes, sender=model, dispatch_uid=f"scopes-{model.__name__}")
        for through in (Team.members.through, Team.organisations.through):
            uid = f"scopes-{through.__name__}"
            m2m_changed.connect(forget_agent_scopes, sender=through, dispatch_uid=uid)
