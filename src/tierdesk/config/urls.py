"""URL map: the agent workspace, the customer portal, accounts, the admin and the HTTP API."""

from django.contrib import admin
from django.urls import include, path

from tierdesk.common.views import home
from tierdesk.config.api import api

admin.site.site_header = "Tierdesk"
admin.site.site_title = "Tierdesk"

urlpatterns = [
    path("", home, name="home"),
    path("", include("tierdesk.accounts.urls")),
    path("desk/", include("tierdesk.workspace.urls")),
    path("desk/reports/", include("tierdesk.sla.urls")),
    path("desk/kb/", include("tierdesk.kb.urls")),
    path("portal/kb/", include("tierdesk.kb.portal_urls")),
    path("portal/", include("tierdesk.portal.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
]
