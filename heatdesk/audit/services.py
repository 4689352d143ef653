"""Writing the audit log. Call inside the transaction that makes the change."""

from typing import Any

from django.db import transaction

from heatdesk.audit.models import AuditEntry


def audit_record(
    *,
    actor: Any | None,
    action: str,
    obj: Any,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str = "",
    ip: str | None = None,
) -> AuditEntry:
    """Append one entry. Refuses to run outside a transaction so it commits with the change."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("audit_record must run inside the transaction that makes the change")
    actor_user = actor if getattr(actor, "pk", None) else None
    return AuditEntry.objects.create(
        actor=actor_user,
        # Staff by username, residents (who have none) by their public id.
        actor_label=str(
            getattr(actor_user, "username", "") or getattr(actor_user, "public_id", "") or "system"
        )
        if actor_user
        else "system",
        action=action,
        object_type=obj._meta.label_lower,
        object_id=str(obj.pk),
        before=before,
        after=after,
        reason=reason,
        ip=ip or None,
    )
