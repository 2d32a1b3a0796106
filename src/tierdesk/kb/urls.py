"""The knowledge base in the agent workspace, under ``/desk/kb/``.

An article page is ``<id>/``; the links its rendered text holds are relative to it (see
``kb.markdown``): ``files/<file id>/`` and ``../wiki/<title>/``. The ``ticket/<ref>/`` pages are
the "Knowledge" panel of the ticket page and its actions.
"""

from django.urls import path

from tierdesk.kb import views

app_name = "kb"

urlpatterns = [
    path("", views.article_list, name="list"),
    path("new/", views.new_article, name="new"),
    path("preview/", views.preview, name="preview"),
    path("reviews/", views.reviews, name="reviews"),
    path("report/", views.report, name="report"),
    # A title may hold a slash ("TCP/IP"): ``path`` takes the rest of the address.
    path("wiki/<path:title>/", views.wiki_link, name="wiki"),
    path("<int:pk>/", views.article, name="article"),
    path("<int:pk>/edit/", views.edit_article, name="edit"),
    path("<int:pk>/status/", views.change_status, name="status"),
    path("<int:pk>/reviewed/", views.mark_reviewed, name="reviewed"),
    path("<int:pk>/feedback/", views.feedback, name="feedback"),
    path("<int:pk>/versions/", views.versions, name="versions"),
    path("<int:pk>/versions/<int:number>/restore/", views.restore_version, name="restore"),
    path("<int:pk>/files/<int:file_id>/", views.article_file, name="file"),
    path("ticket/<str:ref>/", views.ticket_panel, name="ticket_panel"),
    path("ticket/<str:ref>/insert/<int:pk>/", views.ticket_insert, name="ticket_insert"),
    path("ticket/<str:ref>/link/", views.ticket_link, name="ticket_link"),
    path("ticket/<str:ref>/unlink/", views.ticket_unlink, name="ticket_unlink"),
]
