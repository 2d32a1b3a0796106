"""Pages of the SLA app in the agent workspace (under /desk/reports/)."""

from django.urls import path

from tierdesk.sla import views

app_name = "sla"

urlpatterns = [
    path("sla/", views.compliance_report, name="compliance"),
]
