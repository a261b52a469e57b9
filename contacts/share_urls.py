"""The public share view (included from checkpoints/urls.py by name)."""

from django.urls import path

from contacts import share_page

urlpatterns = [
    # Any text after /s/ reaches the view, which answers a plain 404 for a bad token.
    path("s/<str:token>", share_page.shared_view, name="share-view"),
]
