"""Identity housekeeping: forget what can no longer be used.

Used and expired single-use tokens, throttle counters whose window and lockout are long over,
and sessions that ended more than `SESSION_RETENTION` ago. A signed-out device stays listed in
the audit trail, which is kept.
"""

from __future__ import annotations

from datetime import timedelta

from procrastinate import Blueprint

from finhub.kit.logging import get_logger
from finhub.runtime import current_runtime

log = get_logger(__name__)
blueprint = Blueprint()

TOKEN_RETENTION = timedelta(days=1)
THROTTLE_RETENTION = timedelta(days=1)
SESSION_RETENTION = timedelta(days=30)

PURGES = {
    "one_time_tokens": "DELETE FROM one_time_tokens WHERE expires_at < %(now)s - %(tokens)s",
    "auth_throttles": """
        DELETE FROM auth_throttles
         WHERE window_start < %(now)s - %(throttles)s
           AND (locked_until IS NULL OR locked_until < %(now)s)
    """,
    "sessions": """
        DELETE FROM sessions
         WHERE least(expires_at, idle_expires_at, coalesce(revoked_at, 'infinity'))
               < %(now)s - %(sessions)s
    """,
}


@blueprint.periodic(cron="41 * * * *", periodic_id="purge_identity")
@blueprint.task(name="identity.purge", queue="housekeeping", queueing_lock="purge_identity")
async def purge(timestamp: int) -> dict[str, int]:
    """Hourly: delete spent tokens, stale throttle counters and long-ended sessions."""
    runtime = current_runtime()
    params = {
        "now": runtime.clock.now(),
        "tokens": TOKEN_RETENTION,
        "throttles": THROTTLE_RETENTION,
        "sessions": SESSION_RETENTION,
    }
    counts = {}
    async with runtime.db.transaction() as conn:
        for table, sql in PURGES.items():
            cursor = await conn.execute(sql, params)
            counts[table] = cursor.rowcount
    if any(counts.values()):
        log.info("identity records purged", **counts)
    return counts
