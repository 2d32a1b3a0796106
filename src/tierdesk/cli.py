"""The ``tierdesk`` command (installed with the package): Django's management commands with
Tierdesk's settings, usable from anywhere, e.g. by an MTA: ``tierdesk import_mail < message``."""

from __future__ import annotations

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tierdesk.config.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
