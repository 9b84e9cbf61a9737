from __future__ import annotations

from django.http import HttpRequest

from portal.access import is_registry_staff


def roles(request: HttpRequest) -> dict[str, bool]:
    return {"is_registry_staff": is_registry_staff(request.user)}
