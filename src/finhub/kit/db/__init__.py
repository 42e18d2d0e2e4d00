"""Database access: the connection pool, transactions and the embedded server."""

from finhub.kit.db.engine import Database, Row

__all__ = ["Database", "Row"]
