from django.urls import path

from tierdesk.portal import views

app_name = "portal"

urlpatterns = [
    path("", views.home, name="home"),
    path("register/", views.register, name="register"),
    path("register/sent/", views.register_sent, name="register_sent"),
    path("activate/<str:uidb64>/<str:token>/", views.activate, name="activate"),
    path("claim/<str:uidb64>/<str:token>/", views.claim, name="claim"),
    path("invite/<str:token>/", views.register_invited, name="register_invited"),
    path("invitations/", views.invitations, name="invitations"),
    path("new/", views.new_request, name="new"),
    path("r/<str:ref>/", views.ticket_detail, name="ticket"),
    path("r/<str:ref>/reply/", views.ticket_reply, name="reply"),
    path("r/<str:ref>/status/", views.ticket_status, name="status"),
    path("r/<str:ref>/rate/", views.ticket_rate, name="rate"),
    path("rating/<str:token>/", views.rate_by_link, name="rate_by_link"),
    path("files/<int:attachment_id>/", views.attachment, name="attachment"),
    path("form/", views.web_form, name="web_form"),
    path("callback/", views.callback, name="callback"),
]
