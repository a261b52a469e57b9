"""The Share… dialog's form: an expiry that is not a plain number of hours re-renders the
dialog with a message (never a 500); a valid one makes the link."""

from __future__ import annotations

import pytest
from django.urls import reverse

from checkpoints.models import ShareLink

pytestmark = pytest.mark.django_db

HX = {"HX-Request": "true"}


@pytest.mark.parametrize("hours", ["²", "٣", "12a", "-1", "0", "99999999", ""])
def test_an_expiry_that_is_no_plain_number_re_renders_with_a_message(client_ada, project, hours):
    version = project.versions.order_by("number").first()
    url = reverse("version-share", args=(project.pk, version.number))
    response = client_ada.post(url, {"hours": hours}, headers=HX)
    assert response.status_code == 422
    assert b"hour" in response.content.lower()
    assert not ShareLink.objects.filter(version=version).exists()


def test_a_valid_expiry_makes_the_link(client_ada, project):
    version = project.versions.order_by("number").first()
    url = reverse("version-share", args=(project.pk, version.number))
    response = client_ada.post(url, {"hours": "24"}, headers=HX)
    assert response.status_code == 201
    assert ShareLink.objects.filter(version=version).count() == 1
