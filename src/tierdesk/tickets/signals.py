"""What other apps may listen to.

``ticket_changed`` is sent inside the transaction of every audited ticket change, after its
audit event, with the same ``event``, ``actor``, ``old`` and ``new`` values. Receivers run in
that transaction: what they write (the e-mail outbox) commits or rolls back with the change,
and anything that leaves the process must wait for ``transaction.on_commit``. It is how the
e-mail channel learns what to notify without the ticket services knowing about mail.
"""

from django.dispatch import Signal

ticket_changed = Signal()  # sender=Ticket; ticket, event, actor, old, new
