"""The intake API, /api/v1/: POST /messages answers at once with the receipt.

OpenAPI at /api/v1/openapi.json, Swagger UI at /api/v1/docs (served from django-ninja's
own static files). Status codes: 201 new message (whatever its status), 200 the same
message again, 409 a reused message_id, 422 schema violation, 400 not JSON, 413 too
large, 415 not JSON content type, 401 bad or missing token, 403 sender not allowed.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError
from ninja.security import HttpBearer

from submissions.auth import (
    DPOP_ALGORITHMS,
    TokenClient,
    TokenError,
    dpop_binding,
    verify_access_token,
    verify_dpop_proof,
)
from submissions.intake import ActivityMessage, IdentMessage, Outcome, Sender, submission_receive
from submissions.models import ApiClient
from submissions.schema import ErrorBody, Receipt

logger = logging.getLogger("submissions.api")


class HelseIdBearer(HttpBearer):
    """`Authorization: Bearer <token>`, or `Authorization: DPoP <token>` with a `DPoP` proof header for
    DPoP-bound HelseID tokens (RFC 9449). A token bound to a key (cnf.jkt) is refused as a bearer token."""

    openapi_scheme = "bearer"
    openapi_bearerFormat = "JWT"

    def __call__(self, request: HttpRequest) -> Sender | None:
        # Parsed here rather than in HttpBearer, which in DEBUG logs a header it does not expect, token and all.
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "dpop":
            return self.authenticate_dpop(request, token.strip())
        if scheme.lower() == "bearer":
            return self.authenticate(request, token.strip())
        if scheme:
            return self._refuse(request, "unsupported authorization scheme")
        return None

    def authenticate(self, request: HttpRequest, token: str) -> Sender | None:
        try:
            claims = verify_access_token(token)
            if dpop_binding(token) is not None:
                raise TokenError("DPoP-bound token sent with the Bearer scheme; use DPoP and a proof")
        except TokenError as error:
            return self._refuse(request, str(error))
        return self._sender(request, claims)

    def authenticate_dpop(self, request: HttpRequest, token: str) -> Sender | None:
        request.token_scheme = "dpop"  # type: ignore[attr-defined]  # noqa: S105 (a scheme name)
        if not token:
            return self._refuse(request, "missing DPoP token")
        try:
            claims = verify_access_token(token)
            jkt = dpop_binding(token)
            if jkt is None:
                raise TokenError("DPoP scheme with a token that is not DPoP-bound (no cnf.jkt)")
            verify_dpop_proof(
                request.headers.get("DPoP"),
                access_token=token,
                jkt=jkt,
                method=request.method or "",
                url=request.build_absolute_uri(request.path),
            )
        except TokenError as error:
            return self._refuse(request, str(error))
        return self._sender(request, claims)

    def _sender(self, request: HttpRequest, claims: TokenClient) -> Sender | None:
        client = ApiClient.objects.filter(client_id=claims.client_id).only("is_active").first()
        if client is None or not client.is_active:
            return self._refuse(request, f"client {claims.client_id!r} is not registered or is deactivated")
        return Sender(org_numbers=claims.org_numbers, client_id=claims.client_id)

    @staticmethod
    def _refuse(request: HttpRequest, reason: str) -> None:
        # The reason never contains the token or the proof; only why it was refused.
        logger.warning("API token refused from %s: %s", request.META.get("REMOTE_ADDR"), reason)
        request.token_refusal = reason  # type: ignore[attr-defined]
        return None


api = NinjaAPI(
    title="Registerportalen – intake API",
    version="1.0",
    description=(
        "Daily, change-based reporting and periodic full files to NPR and KPR. Every message gets a receipt "
        "(kvittering) with the validation result in the response."
    ),
    urls_namespace="api_v1",
    docs_url="/docs",
    openapi_url="/openapi.json",
    auth=HelseIdBearer(),
)


def _json(status: int, payload: dict[str, Any]) -> JsonResponse:
    return JsonResponse(payload, status=status, json_dumps_params={"ensure_ascii": False})


def _error(status: int, error: str, detail: str) -> JsonResponse:
    return _json(status, {"error": error, "detail": detail})


@api.exception_handler(AuthenticationError)
def _unauthorized(request: HttpRequest, exc: AuthenticationError) -> JsonResponse:
    reason = getattr(request, "token_refusal", None)
    if reason is None:
        reason = "missing bearer token"
        logger.warning("API request without token from %s", request.META.get("REMOTE_ADDR"))
    response = _error(401, "unauthorized", f"Tilgangstoken mangler eller er ugyldig ({reason}).")
    if getattr(request, "token_scheme", None) == "dpop":
        error = "invalid_dpop_proof" if "DPoP proof" in reason else "invalid_token"
        response["WWW-Authenticate"] = f'DPoP error="{error}", algs="{" ".join(DPOP_ALGORITHMS)}"'
    else:
        response["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    return response


def _inline(schema: dict[str, Any]) -> dict[str, Any]:
    """Inline pydantic's $defs so the schema can sit directly in the OpenAPI request body."""
    definitions = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return resolve(copy.deepcopy(definitions[node["$ref"].split("/")[-1]]))
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    return resolve(schema)


MESSAGE_SCHEMA = {
    "oneOf": [
        _inline(ActivityMessage.model_json_schema()),
        _inline(IdentMessage.model_json_schema()),
    ]
}


@api.post(
    "/messages",
    response={
        200: Receipt,
        201: Receipt,
        422: Receipt,
        400: ErrorBody,
        401: ErrorBody,
        403: ErrorBody,
        409: ErrorBody,
        413: ErrorBody,
        415: ErrorBody,
    },
    summary="Send a message (activity or ident, change or full)",
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/json": {"schema": MESSAGE_SCHEMA}}},
        "parameters": [
            {
                "name": "validate_only",
                "in": "query",
                "required": False,
                "schema": {"type": "boolean", "default": False},
                "description": "Validate and answer in full, but store nothing but the receipt.",
            }
        ],
    },
)
def post_message(request: HttpRequest) -> JsonResponse:
    if request.content_type != "application/json":
        return _error(
            415,
            "unsupported_media_type",
            f"Content-Type må være application/json, ikke {request.content_type or 'tom'}.",
        )
    limit = settings.INTAKE_MAX_BODY_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return _error(400, "bad_content_length", "Content-Length er ikke et tall.")
    if declared > limit:
        return _too_large(limit)
    body = request.read(limit + 1)
    if len(body) > limit:
        return _too_large(limit)
    validate_only = request.GET.get("validate_only", "false").lower()
    if validate_only not in ("true", "false", "1", "0"):
        return _error(400, "bad_parameter", "validate_only må være true eller false.")
    outcome: Outcome = submission_receive(
        body=body,
        sender=request.auth,
        validate_only=validate_only in ("true", "1"),  # type: ignore[attr-defined]
    )
    if outcome.receipt is not None:
        return _json(outcome.http_status, outcome.receipt)
    return _error(outcome.http_status, outcome.error, outcome.detail)


def _too_large(limit: int) -> JsonResponse:
    return _error(
        413,
        "payload_too_large",
        f"Meldingen er større enn {limit // (1024 * 1024)} MB. Del den opp i flere meldinger.",
    )
