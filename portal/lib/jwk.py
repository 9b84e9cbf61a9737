"""JSON Web Keys: the RFC 7638 thumbprint (DPoP's `cnf.jkt`, key ids)."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

# The members that identify a key, per key type (RFC 7638 section 3.2; RFC 8037 for OKP).
THUMBPRINT_MEMBERS = {"RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y"), "OKP": ("crv", "kty", "x")}
# Members that only a private (or symmetric) key has.
PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwk_thumbprint(jwk: dict[str, Any]) -> str:
    """SHA-256 over the required members in lexicographic order without whitespace, base64url."""
    try:
        members = {name: jwk[name] for name in THUMBPRINT_MEMBERS[jwk["kty"]]}
    except KeyError as error:
        raise ValueError(f"JWK lacks {error.args[0]!r} or has an unknown key type") from None
    if not all(isinstance(value, str) for value in members.values()):
        raise ValueError("JWK members must be strings")
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    return b64url(hashlib.sha256(canonical.encode()).digest())
