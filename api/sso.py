"""``/api/auth/sso``: single sign-on from the commission's OA system (an OpenID Connect relying party).

The authorization-code flow with PKCE (S256): ``/login`` stores a fresh state, nonce and code verifier in
``oidc_states`` (single use, valid for 10 minutes; the state also goes in a cookie, so that only the browser that
started a sign-in can finish it) and sends the browser to the provider's authorization endpoint (found by discovery,
``<issuer>/.well-known/openid-configuration``, cached for an hour). ``/callback`` takes the state back, exchanges
the code at the token endpoint with the verifier, validates the ID token (signature against the provider's JWKS,
iss, aud, exp/iat, nonce, at_hash), reads the userinfo endpoint when the ID token lacks the username claim, maps
the OA identity to a local account and opens a cookie session.

Mapping: the user linked to (issuer, subject); else, on a first sign-in, the unlinked user whose username equals
the ``oidc_username_claim`` claim, which is then linked (operation log "sso_link"); else the sign-in is refused —
accounts are opened by an administrator, never by the OA. Every refusal is logged as "login_failed".

Protocol pieces come from authlib (PKCE challenge, authorization URL, ID-token claim rules) and joserfc (JWS
verification; authlib's own OpenID client uses it, ``authlib.jose`` is deprecated); httpx talks to the provider.
Settings: ``CHENGJIAN_OIDC_ISSUER`` (unset: SSO off, both routes answer 404), ``_CLIENT_ID``, ``_CLIENT_SECRET``,
``_REDIRECT_URL`` (default ``<request base URL>api/auth/sso/callback``), ``_SCOPES``, ``_USERNAME_CLAIM``.
"""

from __future__ import annotations

import logging
import threading
import time
from urllib.parse import quote

import httpx
import sqlalchemy as sa
from authlib.common.security import generate_token
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from authlib.oidc.core import CodeIDToken
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry
from sqlalchemy import Connection

from api.accounts import sessions
from api.errors import ApiError
from api.signin import _attempt, _signed_in
from geo import audit
from geo.db import transaction
from geo.settings import Settings, get_settings

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/auth/sso", tags=["auth"])

STATE_TTL_S = 600  # a sign-in must come back within 10 minutes
STATE_COOKIE = "cj_sso_state"  # binds a sign-in to the browser that started it (no login CSRF)
METADATA_TTL_S = 3600  # discovery documents and key sets are fetched again after an hour
LEEWAY_S = 60  # clock skew allowed on exp/iat
HTTP_TIMEOUT_S = 10.0
# Asymmetric signatures only: a symmetric (HS*) ID token would be keyed with the client secret.
ID_TOKEN_ALGS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")

_cache: dict[str, tuple[float, object]] = {}
_cache_lock = threading.Lock()


# -- the provider ---------------------------------------------------------------------------------------------------


def _unavailable(what: str, error: Exception) -> ApiError:
    log.warning("OIDC provider: %s failed: %s", what, error)
    return ApiError(502, "sso_unavailable", "暂时无法连接 OA 单点登录服务，请稍后再试。", None, {"step": what})


def _fetch_json(url: str, what: str, **kwargs) -> dict:
    try:
        r = httpx.get(url, timeout=HTTP_TIMEOUT_S, **kwargs)
        r.raise_for_status()
        data = r.json()
    except (httpx.HTTPError, ValueError) as e:
        raise _unavailable(what, e) from e
    if not isinstance(data, dict):
        raise _unavailable(what, ValueError("not a JSON object"))
    return data


def _cached(key: str, load, refresh: bool = False):
    with _cache_lock:
        hit = _cache.get(key)
    if hit is None or refresh or hit[0] < time.monotonic():
        value = load()
        with _cache_lock:
            _cache[key] = hit = (time.monotonic() + METADATA_TTL_S, value)
    return hit[1]


def provider_metadata(issuer: str) -> dict:
    """The provider's discovery document (cached); its ``issuer`` must be the configured one."""

    def load() -> dict:
        meta = _fetch_json(issuer.rstrip("/") + "/.well-known/openid-configuration", "discovery")
        missing = [k for k in ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri") if not meta.get(k)]
        if missing or meta["issuer"].rstrip("/") != issuer.rstrip("/"):
            raise _unavailable("discovery", ValueError(f"bad metadata: missing {missing}, issuer {meta.get('issuer')}"))
        return meta

    return _cached("meta:" + issuer, load)


def provider_keys(metadata: dict, refresh: bool = False) -> KeySet:
    """The provider's signing keys (cached; ``refresh`` fetches them again, for a key rotated in meanwhile)."""
    uri = metadata["jwks_uri"]
    return _cached("jwks:" + uri, lambda: KeySet.import_key_set(_fetch_json(uri, "jwks")), refresh)


def exchange_code(s: Settings, metadata: dict, code: str, code_verifier: str, redirect_uri: str) -> dict:
    """Trade the authorization code (and the PKCE verifier) for tokens at the token endpoint."""
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "code_verifier": code_verifier,
    }
    methods = metadata.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
    auth = None
    if "client_secret_basic" in methods:  # RFC 6749 2.3.1: both parts form-encoded, then Basic
        auth = httpx.BasicAuth(quote(s.oidc_client_id or "", safe=""), quote(s.oidc_client_secret or "", safe=""))
    else:
        form.update(client_id=s.oidc_client_id or "", client_secret=s.oidc_client_secret or "")
    try:
        r = httpx.post(
            metadata["token_endpoint"],
            data=form,
            auth=auth,
            timeout=HTTP_TIMEOUT_S,
            headers={"Accept": "application/json"},
        )
        body = r.json()
    except (httpx.HTTPError, ValueError) as e:
        raise _unavailable("token", e) from e
    if r.status_code != 200 or not isinstance(body, dict) or "error" in body:
        error = body.get("error") if isinstance(body, dict) else None
        raise ApiError(
            400,
            "sso_code_invalid",
            "OA 登录凭证无效或已过期，请重新登录。",
            None,
            {"status": r.status_code, "error": error},
        )
    if not body.get("id_token"):
        raise ApiError(
            400,
            "sso_code_invalid",
            "OA 系统未返回身份令牌（ID Token），请检查单点登录配置。",
            None,
            {"status": r.status_code, "error": "no_id_token"},
        )
    return body


def validate_id_token(
    id_token: str, *, metadata: dict, client_id: str, nonce: str, access_token: str | None = None
) -> dict:
    """The claims of a valid ID token; raises ``joserfc.errors.JoseError`` for a bad signature, issuer, audience,
    expiry, nonce or at_hash."""
    algs = [a for a in metadata.get("id_token_signing_alg_values_supported") or ["RS256"] if a in ID_TOKEN_ALGS]
    registry = JWSRegistry(algorithms=algs, strict_check_header=False)
    try:
        token = jwt.decode(id_token, provider_keys(metadata), registry=registry)
    except InvalidKeyIdError:  # signed with a key we have not seen yet: the provider rotated its keys
        token = jwt.decode(id_token, provider_keys(metadata, refresh=True), registry=registry)
    params = {"nonce": nonce, "client_id": client_id}
    if access_token:
        params["access_token"] = access_token
    claims = CodeIDToken(
        token.claims,
        token.header,
        {
            "iss": {"essential": True, "value": metadata["issuer"]},
            "aud": {"essential": True, "value": client_id},
            "sub": {"essential": True},
            "nonce": {"essential": True, "value": nonce},
        },
        params,
    )
    claims.validate(leeway=LEEWAY_S)
    return dict(claims)


def identity(s: Settings, metadata: dict, tokens: dict, nonce: str) -> dict:
    """The signed-in OA identity: the ID token's claims, completed from the userinfo endpoint when they lack the
    username claim (providers may keep profile claims out of the ID token)."""
    claims = validate_id_token(
        tokens["id_token"],
        metadata=metadata,
        client_id=s.oidc_client_id or "",
        nonce=nonce,
        access_token=tokens.get("access_token"),
    )
    if not claims.get(s.oidc_username_claim) and metadata.get("userinfo_endpoint") and tokens.get("access_token"):
        info = _fetch_json(
            metadata["userinfo_endpoint"], "userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
        )
        if info.get("sub") == claims["sub"]:  # OIDC Core 5.3.2: otherwise the answer must not be used
            claims = {**info, **claims}
    return claims


# -- the local account ------------------------------------------------------------------------------------------


def _no_account() -> ApiError:
    return ApiError(403, "sso_no_account", "您的 OA 账号尚未开通本系统权限，请联系管理员。")


def _log_failure(
    conn: Connection, actor: str, reason: str, client: str | None, user_id: int | None = None, **detail
) -> None:
    audit.record(
        conn,
        (actor or "sso")[:64],
        "login_failed",
        "users",
        user_id,
        client=client,
        detail={"method": "oidc", "reason": reason, **detail},
        user_id=user_id,
    )


def map_identity(conn: Connection, issuer: str, claims: dict, username_claim: str, client: str | None) -> int:
    """The local user an OA identity signs in as, linking it on the first sign-in (see the module docstring)."""
    sub, name = str(claims["sub"]), claims.get(username_claim)
    actor = str(name or sub)
    user = (
        conn.execute(
            sa.text("SELECT id, username, active FROM users WHERE oidc_issuer = :i AND oidc_subject = :s"),
            {"i": issuer, "s": sub},
        )
        .mappings()
        .first()
    )
    if user is None:
        user = (
            conn.execute(
                sa.text(
                    "SELECT id, username, active, oidc_subject IS NOT NULL OR oidc_issuer IS NOT NULL AS linked "
                    "FROM users WHERE username = :u"
                ),
                {"u": str(name or "")},
            )
            .mappings()
            .first()
        )
        if user is None or user["linked"]:
            _log_failure(
                conn,
                actor,
                "no_account" if user is None else "linked_to_other",
                client,
                user["id"] if user else None,
                subject=sub,
            )
            raise _no_account()
        if user["active"]:
            conn.execute(
                sa.text(
                    "UPDATE users SET oidc_issuer = :i, oidc_subject = :s, version = version + 1, "
                    "updated_at = now() WHERE id = :id"
                ),
                {"i": issuer, "s": sub, "id": user["id"]},
            )
            audit.record(
                conn,
                user["username"],
                "sso_link",
                "users",
                user["id"],
                {"oidc_issuer": None, "oidc_subject": None},
                {"oidc_issuer": issuer, "oidc_subject": sub},
                client=client,
                detail={"issuer": issuer, "subject": sub, "claim": username_claim},
                user_id=user["id"],
            )
    if not user["active"]:
        _log_failure(conn, user["username"], "inactive", client, user["id"], subject=sub)
        raise ApiError(403, "account_disabled", "账号已停用，请联系管理员。")
    return user["id"]


# -- routes -------------------------------------------------------------------------------------------------------


def _settings() -> Settings:
    s = get_settings()
    if not s.oidc_issuer:
        raise ApiError(404, "sso_disabled", "未配置单点登录。")
    return s


def _redirect_uri(s: Settings, request: Request) -> str:
    return s.oidc_redirect_url or f"{request.base_url}api/auth/sso/callback"


def safe_next(value: str | None) -> str:
    """``value`` when it is a path of this site, otherwise "/" (no open redirect)."""
    if (
        not value
        or not value.startswith("/")
        or value.startswith("//")
        or "\\" in value
        or any(ord(c) < 32 for c in value)
    ):
        return "/"
    return value


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=302, headers={"Cache-Control": "no-store"})


@router.get("/login", summary="通过 OA 系统单点登录（跳转到 OA 登录页）")
def sso_login(request: Request, next: str | None = None) -> RedirectResponse:
    s = _settings()
    metadata = provider_metadata(s.oidc_issuer)
    state, nonce, verifier = generate_token(32), generate_token(32), generate_token(64)
    with transaction() as conn:
        conn.execute(sa.text("DELETE FROM oidc_states WHERE created_at < now() - interval '1 day'"))
        conn.execute(
            sa.text("INSERT INTO oidc_states (state, nonce, code_verifier, next_url) VALUES (:s, :n, :v, :next)"),
            {"s": state, "n": nonce, "v": verifier, "next": safe_next(next)},
        )
    url = prepare_grant_uri(
        metadata["authorization_endpoint"],
        client_id=s.oidc_client_id,
        response_type="code",
        redirect_uri=_redirect_uri(s, request),
        scope=s.oidc_scopes,
        state=state,
        nonce=nonce,
        code_challenge=create_s256_code_challenge(verifier),
        code_challenge_method="S256",
    )
    response = _redirect(url)
    response.set_cookie(
        STATE_COOKIE,
        state,
        max_age=STATE_TTL_S,
        httponly=True,
        secure=sessions._secure(request),
        samesite="lax",
        path="/api/auth/sso",
    )
    return response


@router.get("/callback", summary="OA 单点登录回调（校验身份后建立会话并跳转）")
def sso_callback(
    request: Request,
    code: str | None = None,
    state: str | None = None,
    error: str | None = None,
    error_description: str | None = None,
    iss: str | None = None,
) -> RedirectResponse:
    s = _settings()
    client = sessions.client_of(request)

    def refuse(e: ApiError, reason: str, actor: str = "sso", **detail) -> ApiError:
        with transaction() as conn:
            _log_failure(conn, actor, reason, client, **detail)
        return e

    with transaction() as conn:  # single use: taken (and committed) whatever happens next
        pending = (
            conn.execute(
                sa.text(
                    "UPDATE oidc_states SET used_at = now() WHERE state = :s AND used_at IS NULL "
                    "RETURNING nonce, code_verifier, next_url, created_at > now() - make_interval(secs => :ttl) AS fresh"
                ),
                {"s": state or "", "ttl": STATE_TTL_S},
            )
            .mappings()
            .first()
        )
    if error:
        detail = {"error": error[:100], "error_description": (error_description or "")[:300]}
        if error == "access_denied":
            raise refuse(
                ApiError(403, "sso_denied", "OA 系统未授权本次登录（已取消或被拒绝）。", None, detail),
                "provider_error",
                **detail,
            )
        raise refuse(
            ApiError(400, "sso_provider_error", f"OA 系统返回错误（{error[:100]}），未能登录，请重试。", None, detail),
            "provider_error",
            **detail,
        )
    if pending is None or not pending["fresh"] or request.cookies.get(STATE_COOKIE) != state:
        reason = "bad_state" if pending is None else "expired_state" if not pending["fresh"] else "other_browser"
        raise refuse(
            ApiError(400, "sso_state_invalid", "登录请求无效、已使用或已超过 10 分钟，请重新单点登录。"), reason
        )
    if iss is not None and iss.rstrip("/") != s.oidc_issuer.rstrip("/"):  # RFC 9207: another provider answers
        raise refuse(
            ApiError(400, "sso_issuer_mismatch", "登录响应不是来自配置的 OA 系统，已拒绝。"),
            "issuer_mismatch",
            iss=iss[:200],
        )
    if not code:
        raise refuse(ApiError(400, "sso_code_invalid", "OA 登录凭证无效或已过期，请重新登录。"), "no_code")
    try:
        metadata = provider_metadata(s.oidc_issuer)
        tokens = exchange_code(s, metadata, code, pending["code_verifier"], _redirect_uri(s, request))
        claims = identity(s, metadata, tokens, pending["nonce"])
    except ApiError as e:
        raise refuse(e, e.code, **(e.detail or {})) from None
    except JoseError as e:
        log.warning("OIDC: ID token refused: %r", e)
        raise refuse(
            ApiError(
                400,
                "sso_token_invalid",
                "OA 系统返回的身份令牌校验未通过，未能登录。",
                None,
                {"error": type(e).__name__},
            ),
            "bad_id_token",
            error=type(e).__name__,
        ) from None

    def run(conn: Connection) -> dict:
        user_id = map_identity(conn, metadata["issuer"], claims, s.oidc_username_claim, client)
        return _signed_in(conn, user_id, request, "oidc", "cookie")

    done = _attempt(run)
    response = _redirect(pending["next_url"] or "/")
    sessions.set_cookies(response, request, done["token"], done["csrf"], done["expires"])
    response.delete_cookie(STATE_COOKIE, path="/api/auth/sso")
    return response
