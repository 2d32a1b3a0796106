"""``manage.py kb_reindex``: rebuild the knowledge base's search index from the articles.

Needed after loading articles other than through ``kb.services`` (a restore, a bulk import) or
after moving the data from SQLite to PostgreSQL; harmless at any time (searches keep working,
each batch is replaced in its own transaction)."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from tierdesk.kb.search import reindex_articles


class Command(BaseCommand):
    help = "Rebuild the knowledge base's search index (every article's title, tags, service and text)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--batch", type=int, default=1000, help="Articles per transaction (default 1000)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["batch"] < 1:
            self.stderr.write("--batch must be at least 1.")
            raise SystemExit(2)
        started = time.perf_counter()
        count = reindex_articles(batch=options["batch"])
        self.stdout.write(f"Indexed {count} articles in {time.perf_counter() - started:.1f} s.")
