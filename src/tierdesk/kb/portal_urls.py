"""The knowledge base in the customer portal, under ``/portal/kb/``.

An article page is ``<id>/``; the links its rendered text holds are relative to it, so they
work here as under the agents' ``/desk/kb/<id>/``: ``files/<file id>/`` (images and files of
the article) and ``../wiki/<title>/`` (a ``[[Title]]`` wiki link).
"""

from django.urls import path

from tierdesk.kb import portal_views as views

app_name = "kb_portal"

urlpatterns = [
    path("", views.search, name="search"),
    path("suggest/", views.suggest, name="suggest"),
    path("<int:pk>/", views.article, name="article"),
    path("<int:pk>/feedback/", views.feedback, name="feedback"),
    path("<int:pk>/solved/", views.solved, name="solved"),
    path("<int:pk>/files/<int:file_id>/", views.article_file, name="file"),
    # A title may hold a slash ("TCP/IP"): ``path`` takes the rest of the address.
    path("wiki/<path:title>/", views.wiki_link, name="wiki"),
]
