"""Reads about users that the API and pages share."""

from heatdesk.accounts.models import User
from heatdesk.accounts.services import privacy_consent_current
from heatdesk.core.masking import mask_phone


def user_me(*, user: User) -> dict[str, object]:
    return {
        "id": user.public_id,
        "display_name": user.display_name,
        "phone_masked": mask_phone(user.phone) if user.phone else "",
        "phone_verified": user.has_verified_phone,
        "roles": sorted(user.groups.values_list("name", flat=True)),
        "privacy_version_accepted": user.privacy_version,
        "privacy_consent_required": not privacy_consent_current(user),
    }
