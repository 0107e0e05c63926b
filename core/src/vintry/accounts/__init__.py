"""Accounts: users, roles as bundles of permissions, and API tokens."""
