"""`heatdesk demo` where the database is not the shared, already loaded one of test_demo.py:
a demo login name someone already uses, and production, which refuses the demo."""

import pytest
from django.core.management.base import CommandError
from django.test import override_settings

from heatdesk.accounts.models import User
from heatdesk.estates.models import Community
from heatdesk.estates.tests.demo_support import load_demo


@pytest.mark.django_db
def test_an_existing_user_with_a_demo_username_is_left_alone():
    User.objects.create_user("admin", "somebody-elses-password")

    output = load_demo()

    admin = User.objects.get(username="admin")
    assert admin.check_password("somebody-elses-password")
    assert not admin.is_superuser
    assert "用户 admin 已存在，未修改其密码和角色。" in output
    assert User.objects.get(username="finance").check_password("heatdesk-finance")


@pytest.mark.django_db
@override_settings(PRODUCTION=True)
def test_demo_is_refused_in_production():
    with pytest.raises(CommandError, match="生产环境"):
        load_demo()

    assert Community.objects.count() == 0
    assert not User.objects.filter(username="admin").exists()
