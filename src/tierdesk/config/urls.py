"""URL map: the admin, the HTTP API and (later) the agent workspace and the customer portal."""

from django.contrib import admin
from django.urls import path

from tierdesk.config.api import api

admin.site.site_header = "Tierdesk"
admin.site.site_title = "Tierdesk"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
]
