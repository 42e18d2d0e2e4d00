"""From the outbox to the receiver: fan-out, signatures, retries with backoff, the delivery log,
replays, duplicated events and DNS rebinding."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from standardwebhooks import Webhook

from finhub.kit import outbox
from finhub.kit.clock import OffsetClock
from finhub.kit.outbox import OutboxEvent
from finhub.webhooks import dispatcher
from finhub.webhooks.dispatcher import dispatch_pending
from finhub.webhooks.sender import RetryPolicy
from tests.webhooks.conftest import PUBLIC_ADDRESS, MakePerson, Person, World, scalar

BASE = "/v1/webhook-endpoints"


async def make_endpoint(
    person: Person, world: World, patterns: list[str] | None = None
) -> tuple[str, str, str]:
    host = world.host()
    created = await person.client.post(
        BASE, json={"url": f"https://{host}/hooks", "event_types": patterns or ["payment.*"]}
    )
    assert created.status_code == 201, created.text
    return created.json()["id"], created.json()["secret"], host


async def emit(world: World, clock: OffsetClock, person: Person, type: str, **data: Any) -> str:
    async with world.db.transaction() as conn:
        return await outbox.emit(
            conn, type=type, owner=f"user:{person.user_id}", data=data, now=clock.now()
        )


def counter(world: World, endpoint_id: str) -> Any:
    async def count() -> int:
        return int(
            await scalar(
                world.db,
                "SELECT count(*) FROM webhook_deliveries WHERE endpoint_id = %s",
                endpoint_id,
            )
        )

    return count


async def log_of(person: Person, endpoint_id: str) -> list[dict[str, Any]]:
    answer = await person.client.get(f"{BASE}/{endpoint_id}/deliveries")
    assert answer.status_code == 200, answer.text
    data: list[dict[str, Any]] = answer.json()["data"]
    return data


async def test_matching_events_arrive_signed_and_verifiable(
    world: World, make_person: MakePerson, clock: OffsetClock
) -> None:
    ada, eve = await make_person(), await make_person()
    endpoint_id, secret, host = await make_endpoint(ada, world)
    await emit(world, clock, ada, "payment.completed", id="pay_1", amount=1250)
    await emit(world, clock, ada, "profile.updated", id="x")  # not subscribed
    await emit(world, clock, eve, "payment.completed", id="pay_2")  # someone else's
    await world.dispatch_until(counter(world, endpoint_id), 1)

    report = await world.sender().deliver_due()
    assert report.succeeded >= 1
    [request] = world.receiver.to(host)
    assert request.url.host == PUBLIC_ADDRESS  # sent to the address that was checked
    assert request.url.path == "/hooks"
    message = Webhook(secret).verify(request.content, dict(request.headers))
    assert message["type"] == "payment.completed"
    assert message["data"] == {"id": "pay_1", "amount": 1250}
    [delivery] = await log_of(ada, endpoint_id)
    assert request.headers["webhook-id"] == delivery["id"]
    assert delivery["status"] == "succeeded"
    assert delivery["event_type"] == "payment.completed"
    [attempt] = delivery["attempts"]
    assert attempt["status_code"] == 200
    assert attempt["succeeded"] is True
    assert attempt["response_excerpt"] == "answer 200"
    assert attempt["duration_ms"] >= 0


async def test_failures_back_off_until_the_delivery_fails(
    world: World, make_person: MakePerson, clock: OffsetClock
) -> None:
    ada = await make_person()
    endpoint_id, _, host = await make_endpoint(ada, world, ["payment.failed"])
    await emit(world, clock, ada, "payment.failed", id="pay_3")
    await world.dispatch_until(counter(world, endpoint_id), 1)
    policy = RetryPolicy(jitter=0.0)
    world.receiver.replies = [
        httpx.ReadTimeout("slow") if n % 3 == 1 else 500 for n in range(policy.max_attempts)
    ]
    sender = world.sender()
    await sender.deliver_due()
    for wait in policy.schedule:
        [delivery] = await log_of(ada, endpoint_id)
        assert delivery["status"] == "pending"
        gap = delivery["next_attempt_at"]
        assert gap is not None
        world.clock.advance(wait - timedelta(seconds=1))
        await sender.deliver_due()
        assert len(world.receiver.to(host)) == delivery["attempt_count"]  # not due yet
        world.clock.advance(timedelta(seconds=1))
        await sender.deliver_due()
        assert len(world.receiver.to(host)) == delivery["attempt_count"] + 1

    [delivery] = await log_of(ada, endpoint_id)
    assert delivery["status"] == "failed"
    assert delivery["next_attempt_at"] is None
    attempts = delivery["attempts"]
    assert [a["number"] for a in attempts] == list(range(1, policy.max_attempts + 1))
    assert [a["status_code"] for a in attempts[:3]] == [500, None, 500]
    assert attempts[1]["error"] == "timed out after 10 s"
    assert attempts[0]["response_excerpt"] == "answer 500"
    assert not any(a["succeeded"] for a in attempts)
    requests = world.receiver.to(host)
    assert {r.headers["webhook-id"] for r in requests} == {delivery["id"]}
    assert len({r.headers["webhook-timestamp"] for r in requests}) == len(requests)
    total = sum(policy.schedule, timedelta())
    assert timedelta(hours=20) < total < timedelta(hours=25)

    world.clock.advance(timedelta(days=2))
    await sender.deliver_due()
    assert len(world.receiver.to(host)) == policy.max_attempts  # failed is final


async def test_replay_sends_again_with_the_same_webhook_id(
    world: World, make_person: MakePerson, clock: OffsetClock
) -> None:
    ada, eve = await make_person(), await make_person()
    endpoint_id, _, host = await make_endpoint(ada, world)
    await emit(world, clock, ada, "payment.processing", id="pay_4")
    await world.dispatch_until(counter(world, endpoint_id), 1)
    world.receiver.replies = [500]
    await world.sender().deliver_due()
    [delivery] = await log_of(ada, endpoint_id)
    assert delivery["status"] == "pending"

    path = f"{BASE}/{endpoint_id}/deliveries/{delivery['id']}/replay"
    assert (await eve.client.post(path)).status_code == 404
    eves_endpoint, _, _ = await make_endpoint(eve, world)
    stolen = await eve.client.post(f"{BASE}/{eves_endpoint}/deliveries/{delivery['id']}/replay")
    assert stolen.status_code == 404
    assert stolen.json()["code"] == "webhook_delivery_not_found"
    other_log = await eve.client.get(f"{BASE}/{eves_endpoint}/deliveries/{delivery['id']}")
    assert other_log.status_code == 404
    assert len(world.receiver.to(host)) == 1

    replayed = await ada.client.post(path)
    assert replayed.status_code == 200, replayed.text
    body = replayed.json()
    assert body["status"] == "succeeded"
    assert [(a["trigger"], a["status_code"]) for a in body["attempts"]] == [
        ("scheduled", 500),
        ("replay", 200),
    ]
    first, second = world.receiver.to(host)
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == delivery["id"]
    assert first.content == second.content

    again = await ada.client.post(path)  # a delivered message can be replayed too
    assert len(again.json()["attempts"]) == 3
    single = await ada.client.get(f"{BASE}/{endpoint_id}/deliveries/{delivery['id']}")
    assert single.json()["attempt_count"] == 3
    filtered = await ada.client.get(f"{BASE}/{endpoint_id}/deliveries", params={"status": "failed"})
    assert filtered.json()["data"] == []


async def test_an_event_handled_twice_makes_one_delivery(
    world: World, make_person: MakePerson, clock: OffsetClock
) -> None:
    ada = await make_person()
    endpoint_id, _, host = await make_endpoint(ada, world, ["*"])
    second_id, _, _ = await make_endpoint(ada, world, ["payment.completed"])
    event_id = await emit(world, clock, ada, "payment.completed", id="pay_5")
    await world.dispatch_until(counter(world, second_id), 1)
    async with world.db.connection() as conn:
        cursor = await conn.execute(
            "SELECT id, seq, xid::text::bigint AS xid, type, owner, data, created_at"
            " FROM outbox_events WHERE id = %s",
            (event_id,),
        )
        row = await cursor.fetchone()
    assert row is not None
    event = OutboxEvent(**row)
    async with world.db.transaction() as conn:
        assert await dispatcher.enqueue(conn, [event, event], world.clock.now()) == 0
    await asyncio.gather(*(dispatch_pending(world.db, world.clock) for _ in range(3)))
    assert await counter(world, endpoint_id)() == 1
    assert await counter(world, second_id)() == 1
    await world.sender().deliver_due()
    await world.sender().deliver_due()
    assert len(world.receiver.to(host)) == 1


async def test_a_name_rebound_to_a_private_address_is_not_called(
    world: World, make_person: MakePerson, clock: OffsetClock
) -> None:
    ada = await make_person()
    endpoint_id, _, host = await make_endpoint(ada, world)
    await emit(world, clock, ada, "payment.completed", id="pay_6")
    await world.dispatch_until(counter(world, endpoint_id), 1)
    world.resolver.answers[host] = ["10.0.0.8"]
    await world.sender().deliver_due()
    assert world.receiver.to(host) == []
    [delivery] = await log_of(ada, endpoint_id)
    assert delivery["status"] == "pending"
    [attempt] = delivery["attempts"]
    assert attempt["status_code"] is None
    assert attempt["error"].startswith("destination refused")

    world.resolver.answers[host] = [PUBLIC_ADDRESS]
    world.clock.advance(timedelta(seconds=5))
    await world.sender().deliver_due()
    [request] = world.receiver.to(host)
    assert request.url.host == PUBLIC_ADDRESS


async def test_after_a_roll_both_secrets_sign_until_the_old_one_expires(
    world: World, make_person: MakePerson, clock: OffsetClock
) -> None:
    ada = await make_person()
    endpoint_id, old_secret, host = await make_endpoint(ada, world)
    rolled = await ada.client.post(f"{BASE}/{endpoint_id}/roll-secret", json={})
    new_secret = rolled.json()["secret"]
    await emit(world, clock, ada, "payment.completed", id="pay_7")
    await world.dispatch_until(counter(world, endpoint_id), 1)
    await world.sender().deliver_due()
    [request] = world.receiver.to(host)
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    for secret in (old_secret, new_secret):
        assert signed_by(secret, request)

    again = await ada.client.post(
        f"{BASE}/{endpoint_id}/roll-secret", json={"previous_valid_for_seconds": 0}
    )
    newest = again.json()["secret"]
    [delivery] = await log_of(ada, endpoint_id)
    await ada.client.post(f"{BASE}/{endpoint_id}/deliveries/{delivery['id']}/replay")
    latest = world.receiver.to(host)[-1]
    assert len(latest.headers["webhook-signature"].split(" ")) == 1
    # Signed at the app's clock, which other tests may have moved: check the signature itself
    # rather than the timestamp's distance from the real time.
    assert signed_by(newest, latest)


def signed_by(secret: str, request: Any) -> bool:
    headers = request.headers
    when = datetime.fromtimestamp(int(headers["webhook-timestamp"]), UTC)
    expected = Webhook(secret).sign(headers["webhook-id"], when, request.content.decode())
    return expected in headers["webhook-signature"].split(" ")


async def test_a_disabled_endpoint_is_not_sent_to_until_enabled(
    world: World, make_person: MakePerson, clock: OffsetClock
) -> None:
    ada = await make_person()
    endpoint_id, _, host = await make_endpoint(ada, world)
    await emit(world, clock, ada, "payment.completed", id="pay_8")
    await world.dispatch_until(counter(world, endpoint_id), 1)
    await ada.client.patch(f"{BASE}/{endpoint_id}", json={"enabled": False})
    await world.sender().deliver_due()
    assert world.receiver.to(host) == []
    await ada.client.patch(f"{BASE}/{endpoint_id}", json={"enabled": True})
    await world.sender().deliver_due()
    assert len(world.receiver.to(host)) == 1
