"""ASGI entry point, for a server that only speaks ASGI (Tierdesk is served over WSGI; see wsgi.py)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tierdesk.config.settings")
application = get_asgi_application()
