"""Seed the default service level "Standard" (admins edit it afterwards): the default calendar,
the clock stopped while waiting for the customer or a third party and while on L4, targets per
priority in business minutes, and a warning to the assignee at 75 % of the first response and
of the resolution."""

from django.db import migrations

# priority: (first response, resolution, next response), in business minutes.
TARGETS = {
    1: (15, 240, 30),  # critical: 15 min, 4 h
    2: (30, 540, 60),  # high: 30 min, one 9-hour day
    3: (120, 1620, 240),  # medium: 2 h, three days
    4: (480, 2700, 480),  # low: one day, five days
    5: (1440, 10800, None),  # planning: three days, four weeks
}


def seed(apps, schema_editor):
    SlaPolicy = apps.get_model("sla", "SlaPolicy")
    SlaTarget = apps.get_model("sla", "SlaTarget")
    EscalationRule = apps.get_model("sla", "EscalationRule")
    SupportLine = apps.get_model("tickets", "SupportLine")
    if SlaPolicy.objects.exists():
        return
    policy = SlaPolicy.objects.create(
        name="Standard",
        description="Default service level for organisations without an agreement of their own.",
        pause_statuses=["waiting_customer", "waiting_third_party"],
        is_default=True,
    )
    policy.excluded_lines.set(SupportLine.objects.filter(code="L4"))
    SlaTarget.objects.bulk_create(
        SlaTarget(
            policy=policy,
            priority=priority,
            first_response_minutes=first,
            resolution_minutes=resolution,
            next_response_minutes=following,
        )
        for priority, (first, resolution, following) in TARGETS.items()
    )
    for target in ("first_response", "resolution"):
        EscalationRule.objects.create(target=target, percent=75, action="notify_assignee")


class Migration(migrations.Migration):
    dependencies = [("sla", "0003_service_levels"), ("tickets", "0002_seed_lines_and_matrix")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
