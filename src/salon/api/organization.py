"""``/v1/organization``: Salon's own organization settings (not part of Whereby's API): the
privacy contact email, the relay-only privacy setting and the allowed embed domains."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter

from salon.api.deps import Caller, ServicesDep
from salon.api.schemas import OrganizationSettingsIn, OrganizationSettingsOut
from salon.errors import FieldProblem, InvalidInput
from salon.services.container import Services
from salon.services.embed_domains import parse_domains
from salon.services.orgs import check_email

router = APIRouter(prefix="/v1/organization", tags=["organization"])


def _out(services: Services, org_id: str) -> dict[str, Any]:
    settings = services.orgs.settings(org_id)
    out: dict[str, Any] = {
        "name": settings.name,
        "contactEmail": settings.contact_email,
        "allowedEmbedDomains": list(services.orgs.embed_domains(org_id)),
    }
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
    # Every value is checked before anything is written: bad input changes nothing, and the
    # answer names every bad field at once.
    problems: list[FieldProblem] = []
    checks: list[Callable[[], object]] = []
    if "contactEmail" in body.model_fields_set and body.contactEmail is not None:
        checks.append(functools.partial(check_email, body.contactEmail))
    if "allowedEmbedDomains" in body.model_fields_set:
        checks.append(functools.partial(parse_domains, body.allowedEmbedDomains))
    for check in checks:
        try:
            check()
        except InvalidInput as exc:
            problems += exc.problems
    if problems:
        raise InvalidInput(problems)
    if "contactEmail" in body.model_fields_set:
        services.orgs.set_contact_email(org.org_id, body.contactEmail)
    if "relayOnly" in body.model_fields_set:
        services.relay_policy.set_org_relay_only(org.org_id, body.relayOnly)
    if "allowedEmbedDomains" in body.model_fields_set:
        services.orgs.set_embed_domains(org.org_id, body.allowedEmbedDomains)
    return _out(services, org.org_id)
