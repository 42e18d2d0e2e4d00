"""Organisations: members, invitations, roles, permissions and teams."""
