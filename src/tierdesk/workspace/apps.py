from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WorkspaceConfig(AppConfig):
    name = "tierdesk.workspace"
    verbose_name = _("Agent workspace")

    def ready(self) -> None:
        # The queue's selects over organisations, people, categories, lines and teams (an
        # agent's scope) keep their options per process for a few seconds
        # (``common.forms.CachedModelSelect``); any write of those rows here drops them at once.
        from django.db.models.signals import m2m_changed, post_delete, post_save

        from tierdesk.accounts.models import User
        from tierdesk.common.forms import forget_model_options
        from tierdesk.orgs.models import Organisation
        from tierdesk.tickets.models import Category, SupportLine, Team

        for model in (Organisation, Category, SupportLine, Team):
            for signal in (post_save, post_delete):
                signal.connect(forget_model_options, sender=model, dispatch_uid=f"options-{model.__name__}")
        # People: only staff appear in these selects (customers register and sign in all day).
        for signal in (post_save, post_delete):
            signal.connect(_forget_for_staff, sender=User, dispatch_uid="options-User")

        for through in (Team.members.through, Team.organisations.through):
            m2m_changed.connect(
                forget_model_options, sender=through, dispatch_uid=f"options-{through.__name__}"
            )


def _forget_for_staff(instance: object, **kwargs: object) -> None:
    from tierdesk.common.forms import forget_model_options

    if getattr(instance, "is_staff_member", False):
        forget_model_options()
