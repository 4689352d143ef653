from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "heatdesk.accounts"
    label = "accounts"
    verbose_name = "账户"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from heatdesk.accounts.roles import sync_roles_after_migrate

        # Setup, not business flow: keep the role groups in step with the code after migrations.
        post_migrate.connect(sync_roles_after_migrate, dispatch_uid="heatdesk.accounts.roles")
