"""The site's root is the residents' app."""

import pytest
from django.test import Client


@pytest.mark.django_db
def test_the_site_root_redirects_to_the_resident_app():
    response = Client().get("/")
    assert (response.status_code, response["Location"]) == (302, "/m/")
    follow = Client().get("/", follow=True)
    assert follow.redirect_chain[-1][0].startswith("/m/login/")
