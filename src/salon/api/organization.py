"""``/v1/organization``: Salon's own organization settings (not part of Whereby's API): the
privacy contact email and the relay-only privacy setting."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from salon.api.deps import Caller, ServicesDep
from salon.api.schemas import OrganizationSettingsIn, OrganizationSettingsOut
from salon.services.container import Services

router = APIRouter(prefix="/v1/organization", tags=["organization"])


def _out(services: Services, org_id: str) -> dict[str, Any]:
    settings = services.orgs.settings(org_id)
    out: dict[str, Any] = {"name": settings.name, "contactEmail": settings.contact_email}
    # Salon's extension appears only when it is on, as on meetings.
    if services.relay_policy.org_relay_only(org_id):
        out["relayOnly"] = True
    return out


@router.get("", response_model=OrganizationSettingsOut, response_model_exclude_unset=True)
def get_settings(org: Caller, services: ServicesDep) -> dict[str, Any]:
    return _out(services, org.org_id)


@router.patch("", response_model=OrganizationSettingsOut, response_model_exclude_unset=True)
def update_settings(
    body: OrganizationSettingsIn, org: Caller, services: ServicesDep
) -> dict[str, Any]:
    # The email is checked before anything is written: bad input changes nothing.
    if "contactEmail" in body.model_fields_set:
        services.orgs.set_contact_email(org.org_id, body.contactEmail)
    if "relayOnly" in body.model_fields_set:
        services.relay_policy.set_org_relay_only(org.org_id, body.relayOnly)
    return _out(services, org.org_id)
