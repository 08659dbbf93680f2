"""The back office: its API under ``/api/admin`` and its pages at ``/admin`` (webmap/admin/).

Every API route needs a named action — ``admin.users`` (users, organisations, data grants), ``admin.roles``
(roles and their permissions), ``admin.keys`` (API keys), ``admin.log`` (operation log), ``admin.sms`` (SMS
outbox). Anonymous callers get 401, signed-in callers without the action 403. The pages themselves are public: they
ask the API and show a sign-in form to a visitor who is not signed in.

Each write is one transaction that goes through the functions of api/accounts and leaves an operation-log row in
it; every edit of a role, its permissions or a user's roles and grants is logged as ``permission_change`` with
before and after. Nobody hands out more than they hold: assigning a role, or granting a permission pattern, that
the actor's own permissions do not cover is refused (403, field ``roles`` / ``permissions``).

Errors have the API's shape ``{code, message, field, detail}``; ``field`` names the form field the page shows the
message next to. Lists answer ``{items, total, limit, offset}``, newest first.
"""

from __future__ import annotations

from fastapi import APIRouter

# Importing the modules defines their routes on ``common.endpoints``, in this order (keep it: it is the order of
# the API description): the overview, organisations, users and grants, roles and permissions, API keys, the
# operation log and SMS outbox.
from api.admin import common, keys, log, orgs, pages, roles, users  # noqa: F401, I001

# What api/app.py mounts: the API and the pages (they live at different prefixes).
router = APIRouter()
router.include_router(common.endpoints)
router.include_router(pages.router)
