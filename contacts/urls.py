from django.urls import path

from contacts import views

urlpatterns = [
    path("", views.contact_create, name="contact-create"),
    path("<uuid:contact_id>/edit", views.contact_update, name="contact-update"),
    path("<uuid:contact_id>/delete", views.contact_delete, name="contact-delete"),
]
