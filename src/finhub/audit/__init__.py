"""The append-only, hash-chained audit trail of security and money actions."""
