"""Request dependencies: the service container, and the organization behind the API key."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from salon.errors import RateLimited, Unauthenticated
from salon.services.container import Services
from salon.services.orgs import OrgContext
from salon.services.rate_limit import METHOD_COST

__all__ = ["Caller", "ServicesDep", "get_services"]


async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


async def authenticate(request: Request, services: ServicesDep) -> OrgContext:
    """The caller's organization; spends its rate-limit points for this request."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated(
            "Missing API key. Send it as 'Authorization: Bearer <key>' "
            "(create one with `salon keys create --org NAME`)."
        )
    token = token.strip()
    org = services.orgs.cached_authentication(token)
    if org is None:
        org = await run_in_threadpool(services.orgs.authenticate, token)
    decision = services.rate_limiter.consume(
        f"organization:{org.org_id}", METHOD_COST.get(request.method, 3)
    )
    request.scope.setdefault("state", {})["rate_limit_headers"] = decision.headers()
    if not decision.allowed:
        raise RateLimited(
            f"Rate limit active for throttle key: organization:{org.org_id}",
            ms_left=decision.ms_left,
        )
    return org


Caller = Annotated[OrgContext, Depends(authenticate)]
