"""WSGI entry point: what `make run` and production serve, with granian (see docs/architecture.md).

Django's request path is synchronous; under ASGI each request hops between the event loop and
a worker thread several times, which measured 2.5-3 ms more per request on this kind of machine
(a third of an API call). Granian's Rust HTTP core calls this application from its own threads.
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tierdesk.config.settings")
application = get_wsgi_application()
