from __future__ import annotations

from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = _("Who reports")

    def ready(self) -> None:
        from portal import audit, middleware  # noqa: F401  (connect the sign-in and sign-out receivers)

        post_migrate.connect(_create_cache_table, sender=self, dispatch_uid="portal.create_cache_table")


def _create_cache_table(using: str = "default", **kwargs: object) -> None:
    """The database cache (the shared cache without Redis) needs its table; `migrate` makes it."""
    from django.core.management import call_command

    call_command("createcachetable", database=using, verbosity=0)
