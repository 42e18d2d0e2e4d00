"""The scopes an API key can carry. Sessions of people and staff are not scoped: they may do
whatever their identity (and, in an organisation, their role) allows."""

from __future__ import annotations

SCOPES: dict[str, str] = {
    "profile:read": "Read the owner's profile, sessions and security events.",
    "profile:write": "Change the owner's profile.",
    "notifications:read": "Read the in-app inbox.",
    "organizations:read": "Read organisations, members, roles and teams.",
    "organizations:write": "Change organisations, invitations, members, roles and teams.",
    "audit:read": "Read the audit events the owner may see.",
    "wallets:read": "Read wallets, balances and activity.",
    "wallets:write": "Open wallet balances.",
    "payments:read": "Read payments, payees and payment requests.",
    "payments:write": "Create payments, payees and payment requests.",
    "webhooks:write": "Manage webhook endpoints.",
}
