"""The bootstrap admin API key.

Until user identities exist, every API call needs the admin key. It is generated on first start,
only its SHA-256 is kept (in `<data_dir>/admin-key.sha256`), and the key itself is printed once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from pathlib import Path

KEY_PREFIX = "fh_admin_"
HASH_FILE = "admin-key.sha256"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def ensure_admin_key(data_dir: Path) -> str | None:
    """Create the admin key if there is none; return it when it was just created."""
    path = data_dir / HASH_FILE
    if path.exists():
        return None
    data_dir.mkdir(parents=True, exist_ok=True)
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    path.write_text(hash_key(key) + "\n")
    path.chmod(0o600)
    return key


def reset_admin_key(data_dir: Path) -> str:
    (data_dir / HASH_FILE).unlink(missing_ok=True)
    key = ensure_admin_key(data_dir)
    assert key is not None
    return key


def load_admin_key_hash(data_dir: Path) -> str | None:
    path = data_dir / HASH_FILE
    return path.read_text().strip() if path.exists() else None


def key_matches(presented: str, expected_hash: str) -> bool:
    return hmac.compare_digest(hash_key(presented), expected_hash)
