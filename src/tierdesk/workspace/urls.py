from django.urls import path

from tierdesk.workspace import mail_views, ticket_views, views

app_name = "workspace"

urlpatterns = [
    path("", views.queue, name="queue"),
    path("counts/", views.queue_counts, name="queue_counts"),
    path("bulk/", views.bulk, name="bulk"),
    path("views/", views.save_view, name="save_view"),
    path("views/<int:pk>/delete/", views.delete_view, name="delete_view"),
    path("t/<str:ref>/", ticket_views.ticket, name="ticket"),
    path("t/<str:ref>/canned/", ticket_views.canned_text, name="canned_text"),
    path("t/<str:ref>/do/<slug:action>/", ticket_views.ticket_action, name="ticket_action"),
    path("files/<int:pk>/", ticket_views.attachment, name="attachment"),
    path("people/<int:pk>/", views.person, name="person"),
    path("new/", views.new_ticket, name="new"),
    path("new/contacts/", views.contact_lookup, name="contact_lookup"),
    path("canned/", views.canned_answers, name="canned"),
    path("canned/<int:pk>/delete/", views.delete_canned_answer, name="delete_canned"),
    path("mail/", mail_views.mail_list, name="mail"),
    path("mail/badge/", mail_views.mail_badge, name="mail_badge"),
    path("mail/<int:pk>/", mail_views.mail_message, name="mail_message"),
    path("mail/<int:pk>/source/", mail_views.mail_source, name="mail_source"),
    path("mail/<int:pk>/assign/", mail_views.assign_message, name="mail_assign"),
    path("mail/<int:pk>/discard/", mail_views.discard_message, name="mail_discard"),
    path("mail/<int:pk>/retry/", mail_views.retry_message, name="mail_retry"),
    path("people/<int:pk>/clear-bounce/", mail_views.clear_failing_address, name="clear_failing_address"),
]
