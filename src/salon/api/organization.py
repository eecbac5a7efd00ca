"""``/v1/organization``: Salon's own organization settings (not part of Whereby's API)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from salon.api.deps import Caller, ServicesDep
from salon.api.schemas import OrganizationSettingsIn, OrganizationSettingsOut

router = APIRouter(prefix="/v1/organization", tags=["organization"])


@router.get("", response_model=OrganizationSettingsOut)
def get_settings(org: Caller, services: ServicesDep) -> dict[str, Any]:
    settings = services.orgs.settings(org.org_id)
    return {"name": settings.name, "contactEmail": settings.contact_email}


@router.patch("", response_model=OrganizationSettingsOut)
def update_settings(
    body: OrganizationSettingsIn, org: Caller, services: ServicesDep
) -> dict[str, Any]:
    settings = services.orgs.set_contact_email(org.org_id, body.contactEmail)
    return {"name": settings.name, "contactEmail": settings.contact_email}
