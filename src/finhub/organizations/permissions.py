"""The permissions matrix: what each built-in role of an organisation may do.

Kept as data so the API can show it (`GET /v1/organizations/{id}/permissions`), the tests can
walk it, and other modules can ask for a permission by name through
`finhub.organizations.service.require_permission`. Custom roles are sets of these same
permissions, stored per organisation.
"""

from __future__ import annotations

from typing import Final, Literal

PERMISSIONS: Final[dict[str, str]] = {
    "org:manage": "Change the organisation's details.",
    "members:read": "See the members, roles, teams and invitations.",
    "members:manage": "Invite members, change their roles and remove them.",
    "roles:manage": "Create, change and delete custom roles.",
    "teams:manage": "Create, change and delete teams and choose their members.",
    "api_keys:manage": "Create, roll and revoke the organisation's API keys.",
    "developers:read": "See the organisation's API keys, webhook endpoints and deliveries.",
    "webhooks:manage": "Create, change and delete webhook endpoints.",
    "payments:read": "See payments, payees and payment requests.",
    "payments:create": "Create payments and payees (they may still need approval).",
    "payments:approve": "Approve or reject payments created by others.",
    "balances:read": "See balances and account activity.",
    "audit:read": "See the organisation's audit trail.",
}

BuiltInRole = Literal["owner", "admin", "approver", "maker", "viewer", "developer"]
BUILT_IN_ROLES: Final[tuple[BuiltInRole, ...]] = (
    "owner",
    "admin",
    "approver",
    "maker",
    "viewer",
    "developer",
)

_READ_ONLY = frozenset({"members:read", "payments:read", "balances:read"})

ROLE_PERMISSIONS: Final[dict[str, frozenset[str]]] = {
    # Owners may do everything; only they can make or unmake another owner.
    "owner": frozenset(PERMISSIONS),
    "admin": frozenset(PERMISSIONS),
    "approver": _READ_ONLY | {"payments:approve"},
    "maker": _READ_ONLY | {"payments:create"},
    "viewer": _READ_ONLY,
    "developer": frozenset(
        {"members:read", "api_keys:manage", "webhooks:manage", "developers:read"}
    ),
}

ROLE_DESCRIPTIONS: Final[dict[str, str]] = {
    "owner": "Full control, including making and removing other owners.",
    "admin": "Runs the organisation: members, roles, teams, keys, payments and settings.",
    "approver": "Approves payments; sees payments and balances.",
    "maker": "Creates payments for approval; sees payments and balances.",
    "viewer": "Read-only: members, payments and balances.",
    "developer": "Manages API keys and webhooks.",
}

# The API key scope an organisation's key needs for each permission: organisation
# administration is under organizations:read/write, the rest under its product's scope.
PERMISSION_SCOPES: Final[dict[str, str]] = {
    "org:manage": "organizations:write",
    "members:read": "organizations:read",
    "members:manage": "organizations:write",
    "roles:manage": "organizations:write",
    "teams:manage": "organizations:write",
    "api_keys:manage": "organizations:write",
    "developers:read": "organizations:read",
    "webhooks:manage": "webhooks:write",
    "payments:read": "payments:read",
    "payments:create": "payments:write",
    "payments:approve": "payments:write",
    "balances:read": "wallets:read",
    "audit:read": "audit:read",
}


def is_built_in(role: str) -> bool:
    return role in ROLE_PERMISSIONS


def unknown_permissions(permissions: set[str] | frozenset[str]) -> list[str]:
    return sorted(permissions - PERMISSIONS.keys())
