"""URL map: the admin, the HTTP API and (later) the agent workspace and the customer portal."""

from django.contrib import admin
from django.urls import path
from django.views.generic import RedirectView

from tierdesk.config.api import api

admin.site.site_header = "Tierdesk"
admin.site.site_title = "Tierdesk"

urlpatterns = [
    # Until the agent workspace lands, the front door is the API's OpenAPI page.
    path("", RedirectView.as_view(url="/api/v1/docs", permanent=False)),
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
]
