"""Opaque bearer secrets (session tokens, API keys, one-time tokens) and the app's signing key.

A secret is 256 random bits, url-safe, behind a readable prefix (`fhs_…`, `fh_live_…`). Only its
SHA-256 is stored: the secret has full entropy, so a slow hash would add nothing but latency to
every request, and a leaked table still yields no usable credential.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from pathlib import Path

SECRET_KEY_FILE = "secret.key"  # noqa: S105 (a file name)


def new_secret(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


def secret_hash(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def hashes_match(presented: str, expected: bytes) -> bool:
    return hmac.compare_digest(secret_hash(presented), expected)


def load_or_create_secret_key(data_dir: Path, configured: str | None) -> str:
    """The key that signs links and tokens: `FINHUB_SECRET_KEY`, else one kept in the data
    directory (mode 0600) so that links stay valid across restarts."""
    if configured:
        return configured
    path = data_dir / SECRET_KEY_FILE
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    path.write_text(key + "\n")
    path.chmod(0o600)
    return key
