"""Accounts: users, organisations, roles and permissions, sessions, API keys, one-time codes, SMS, single sign-on."""
