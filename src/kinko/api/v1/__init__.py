"""The REST API under ``/v1``: one module per resource, each a module-level FastAPI
``APIRouter`` whose routes name what they depend on (:mod:`kinko.api.v1.deps`: the services,
the caller's key and role, the audit) and answer with a response model
(:mod:`kinko.api.v1.models`), so the OpenAPI spec documents every answer.

:func:`kinko.api.app.create_app` includes :data:`ROUTERS` in this order (the order of the
spec and of ``/docs``).
"""

from __future__ import annotations

from fastapi import APIRouter

from kinko.api.v1 import audit, breaker, custody, customers, ledger, policy, proposals, withdrawals

__all__ = ["ROUTERS"]

ROUTERS: tuple[APIRouter, ...] = (withdrawals.router, breaker.router, proposals.router,
                                  customers.router, ledger.router, audit.router,
                                  policy.router, custody.router)
