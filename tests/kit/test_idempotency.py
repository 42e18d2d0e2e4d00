"""The Idempotency-Key store: fingerprints, claims, replays, conflicts, takeovers and expiry.

Claims commit in their own transactions (that is their point), so every test claims keys under
its own principal and never meets another test's keys.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from finhub.errors import FinhubError
from finhub.kit import idempotency
from finhub.kit.db import Database
from finhub.kit.idempotency import (
    IdempotencyClaim,
    IdempotentReplay,
    StoredResponse,
    request_fingerprint,
)
from finhub.kit.ids import new_id

BODY = b'{"amount": 100}'


@pytest.fixture
def principal() -> str:
    return f"test:{new_id('idem')}"


async def claim(
    db: Database, principal: str, key: str = "key-1", body: bytes = BODY, path: str = "/v1/x"
) -> IdempotencyClaim:
    return await idempotency.claim(
        db, principal=principal, key=key, method="POST", path=path, body=body
    )


async def complete(db: Database, claimed: IdempotencyClaim, status: int, body: bytes) -> None:
    async with db.transaction() as conn:
        await claimed.complete(conn, status, body)


async def replayed(db: Database, principal: str, body: bytes = BODY) -> StoredResponse:
    with pytest.raises(IdempotentReplay) as replay:
        await claim(db, principal, body=body)
    return replay.value.response


async def key_row(db: Database, principal: str, key: str = "key-1") -> dict[str, object] | None:
    async with db.transaction() as conn:
        cursor = await conn.execute(
            "SELECT state, response_status, response_body FROM idempotency_keys"
            " WHERE principal = %s AND key = %s",
            (principal, key),
        )
        return await cursor.fetchone()


# --- fingerprints -------------------------------------------------------------------------------


def test_a_fingerprint_is_stable_and_covers_method_path_and_body() -> None:
    base = request_fingerprint("POST", "/v1/ledger/transfers", BODY)
    assert base == request_fingerprint("POST", "/v1/ledger/transfers", BODY)
    assert len(base) == 64
    assert base != request_fingerprint("PUT", "/v1/ledger/transfers", BODY)
    assert base != request_fingerprint("POST", "/v1/ledger/transactions", BODY)
    assert base != request_fingerprint("POST", "/v1/ledger/transfers", BODY + b" ")


def test_a_fingerprint_can_not_be_forged_by_moving_bytes_between_parts() -> None:
    assert request_fingerprint("POST", "/a", b"bc") != request_fingerprint("POST", "/ab", b"c")
    assert request_fingerprint("POS", "T/a", b"") != request_fingerprint("POST", "/a", b"")


# --- the life of a key --------------------------------------------------------------------------


async def test_a_completed_key_replays_its_response(db: Database, principal: str) -> None:
    first = await claim(db, principal)
    assert (first.principal, first.key, first.completed) == (principal, "key-1", False)
    await complete(db, first, 201, b'{"id": "txn_1"}')
    assert first.completed

    stored = await replayed(db, principal)
    assert stored == StoredResponse(201, b'{"id": "txn_1"}')
    assert await replayed(db, principal) == stored  # as often as asked


async def test_a_key_still_running_is_a_409(db: Database, principal: str) -> None:
    await claim(db, principal)
    with pytest.raises(FinhubError) as in_use:
        await claim(db, principal)
    assert (in_use.value.status, in_use.value.code) == (409, "idempotency_key_in_use")


@pytest.mark.parametrize("completed", [False, True])
async def test_the_same_key_for_another_request_is_a_422(
    db: Database, principal: str, completed: bool
) -> None:
    first = await claim(db, principal)
    if completed:
        await complete(db, first, 201, b"{}")
    with pytest.raises(FinhubError) as reused:
        await claim(db, principal, body=b'{"amount": 101}')
    assert (reused.value.status, reused.value.code) == (422, "idempotency_key_reused")
    with pytest.raises(FinhubError, match="different request"):
        await claim(db, principal, path="/v1/other")


async def test_keys_are_scoped_to_their_principal(db: Database, principal: str) -> None:
    await claim(db, principal)
    other = await claim(db, principal + ":other")  # same key, someone else: a fresh claim
    assert other.principal == principal + ":other"


async def test_a_stored_error_replays_too(db: Database, principal: str) -> None:
    first = await claim(db, principal)
    problem = b'{"code": "insufficient_funds", "status": 422}'
    await idempotency.store_error(db, first, 422, problem)
    assert await replayed(db, principal) == StoredResponse(422, problem)


async def test_a_released_key_can_be_claimed_again(db: Database, principal: str) -> None:
    first = await claim(db, principal)
    await idempotency.release(db, first)
    assert await key_row(db, principal) is None
    again = await claim(db, principal, body=b"{}")  # even with another body: nothing happened
    assert again.key == first.key


async def test_releasing_never_forgets_a_completed_response(db: Database, principal: str) -> None:
    first = await claim(db, principal)
    await complete(db, first, 201, b"done")
    await idempotency.release(db, first)
    assert await replayed(db, principal) == StoredResponse(201, b"done")


async def test_a_response_is_stored_only_if_its_transaction_commits(
    db: Database, principal: str
) -> None:
    """Completion shares the work's transaction: a rolled-back effect leaves no response."""
    first = await claim(db, principal)

    async def work_that_fails() -> None:
        async with db.transaction() as conn:
            await first.complete(conn, 201, b"never committed")
            raise RuntimeError("the work failed")

    with pytest.raises(RuntimeError, match="the work failed"):
        await work_that_fails()
    row = await key_row(db, principal)
    assert row is not None
    assert (row["state"], row["response_status"]) == ("started", None)


async def age_claims(db: Database, principal: str, age: timedelta) -> None:
    """Pretend the principal's claims were last locked `age` ago."""
    async with db.transaction() as conn:
        await conn.execute(
            "UPDATE idempotency_keys SET locked_at = now() - %s WHERE principal = %s",
            (age, principal),
        )


async def test_a_stale_claim_is_taken_over(db: Database, principal: str) -> None:
    """A process died mid-request: after STALE_AFTER the same request may run again."""
    await claim(db, principal)
    await age_claims(db, principal, idempotency.STALE_AFTER + timedelta(seconds=1))
    taken_over = await claim(db, principal)
    assert taken_over.key == "key-1"
    with pytest.raises(FinhubError) as in_use:  # and the new claim is fresh again
        await claim(db, principal)
    assert in_use.value.code == "idempotency_key_in_use"


async def test_a_claim_that_is_not_yet_stale_stays_in_use(db: Database, principal: str) -> None:
    await claim(db, principal)
    await age_claims(db, principal, idempotency.STALE_AFTER - timedelta(seconds=5))
    with pytest.raises(FinhubError, match="still being processed"):
        await claim(db, principal)


async def test_a_stale_claim_is_not_taken_over_by_another_request(
    db: Database, principal: str
) -> None:
    await claim(db, principal)
    await age_claims(db, principal, timedelta(hours=1))
    with pytest.raises(FinhubError) as reused:
        await claim(db, principal, body=b'{"amount": 5}')
    assert reused.value.code == "idempotency_key_reused"


@pytest.mark.parametrize("key", ["", "k" * 256])
async def test_keys_must_have_a_sensible_length(db: Database, principal: str, key: str) -> None:
    with pytest.raises(FinhubError) as invalid:
        await claim(db, principal, key=key)
    assert (invalid.value.status, invalid.value.code) == (400, "invalid_idempotency_key")


async def test_the_longest_key_is_accepted(db: Database, principal: str) -> None:
    assert (await claim(db, principal, key="k" * 255)).key == "k" * 255


async def test_many_responses_complete_in_one_statement(db: Database, principal: str) -> None:
    claims = [await claim(db, principal, key=f"key-{n}") for n in range(3)]
    async with db.transaction() as conn:
        await idempotency.complete_many(
            conn, [(c, 201, f"body {n}".encode()) for n, c in enumerate(claims)]
        )
    assert all(c.completed for c in claims)
    for n in range(3):
        with pytest.raises(IdempotentReplay) as replay:
            await claim(db, principal, key=f"key-{n}")
        assert replay.value.response == StoredResponse(201, f"body {n}".encode())


# --- expiry -------------------------------------------------------------------------------------


async def test_keys_past_their_retention_are_purged(db: Database, principal: str) -> None:
    old, fresh = await claim(db, principal, key="old"), await claim(db, principal, key="fresh")
    await complete(db, old, 201, b"old")
    await complete(db, fresh, 201, b"fresh")
    async with db.transaction() as conn:
        await conn.execute(
            "UPDATE idempotency_keys SET created_at = now() - %s WHERE principal = %s AND key = %s",
            (idempotency.RETENTION + timedelta(minutes=1), principal, "old"),
        )
        assert await idempotency.purge_expired(conn) >= 1
    assert await key_row(db, principal, "old") is None
    assert await key_row(db, principal, "fresh") is not None
    # After the purge the old key is simply new again.
    assert (await claim(db, principal, key="old", body=b"another")).key == "old"
