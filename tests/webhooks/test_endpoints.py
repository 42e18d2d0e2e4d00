"""Webhook endpoints through the API: create with a secret shown once, list, read, change,
roll the secret, delete; bad URLs refused; another person's endpoint answers 404."""

from __future__ import annotations

import pytest
from httpx import AsyncClient

from finhub.config import Settings
from finhub.identity.factors.crypto import Sealed
from finhub.webhooks.errors import DestinationRefused
from finhub.webhooks.signing import open_secret
from finhub.webhooks.ssrf import EgressPolicy
from tests.webhooks.conftest import MakePerson, World, scalar

BASE = "/v1/webhook-endpoints"


async def test_create_shows_the_secret_once_and_keeps_it_sealed(
    world: World, make_person: MakePerson
) -> None:
    ada = await make_person()
    host = world.host()
    body = {"url": f"https://{host}/hooks", "event_types": ["payment.*"], "description": "shop"}
    created = await ada.client.post(BASE, json=body, headers={"Idempotency-Key": "create-1"})
    assert created.status_code == 201, created.text
    endpoint = created.json()
    assert endpoint["object"] == "webhook_endpoint"
    assert endpoint["id"].startswith("whe_")
    assert endpoint["secret"].startswith("whsec_")
    assert endpoint["event_types"] == ["payment.*"]
    assert endpoint["enabled"] is True

    replay = await ada.client.post(BASE, json=body, headers={"Idempotency-Key": "create-1"})
    assert replay.headers.get("Idempotent-Replayed") == "true"
    assert replay.json()["id"] == endpoint["id"]
    assert "secret" not in replay.json()
    stored = await scalar(
        world.db,
        "SELECT response_body FROM idempotency_keys WHERE key = 'create-1' AND principal = %s",
        f"user:{ada.user_id}",
    )
    assert endpoint["secret"].encode() not in bytes(stored)

    fetched = await ada.client.get(f"{BASE}/{endpoint['id']}")
    assert fetched.status_code == 200
    assert "secret" not in fetched.json()
    async with world.db.connection() as conn:
        row = await (
            await conn.execute(
                "SELECT secret_key_id, secret_sealed FROM webhook_endpoints WHERE id = %s",
                (endpoint["id"],),
            )
        ).fetchone()
    assert row is not None
    assert endpoint["secret"].encode() not in bytes(row["secret_sealed"])
    sealed = Sealed(row["secret_key_id"], bytes(row["secret_sealed"]))
    assert open_secret(world.keyring, endpoint["id"], sealed) == endpoint["secret"]


async def test_list_update_roll_and_delete(world: World, make_person: MakePerson) -> None:
    ada = await make_person()
    ids = []
    for pattern in ("payment.completed", "*"):
        created = await ada.client.post(
            BASE, json={"url": f"https://{world.host()}/in", "event_types": [pattern]}
        )
        assert created.status_code == 201, created.text
        ids.append(created.json()["id"])

    first_page = await ada.client.get(BASE, params={"limit": 1})
    assert first_page.status_code == 200
    assert [e["id"] for e in first_page.json()["data"]] == [ids[1]]
    assert first_page.json()["has_more"] is True
    second_page = await ada.client.get(
        BASE, params={"limit": 1, "starting_after": first_page.json()["next_starting_after"]}
    )
    assert [e["id"] for e in second_page.json()["data"]] == [ids[0]]

    new_host = world.host()
    changed = await ada.client.patch(
        f"{BASE}/{ids[0]}",
        json={"url": f"https://{new_host}/v2", "event_types": ["payment.failed"], "enabled": False},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["url"] == f"https://{new_host}/v2"
    assert changed.json()["event_types"] == ["payment.failed"]
    assert changed.json()["enabled"] is False

    first_secret = await scalar(
        world.db, "SELECT secret_sealed FROM webhook_endpoints WHERE id = %s", ids[0]
    )
    rolled = await ada.client.post(f"{BASE}/{ids[0]}/roll-secret", json={})
    assert rolled.status_code == 200, rolled.text
    assert rolled.json()["secret"].startswith("whsec_")
    assert (
        await scalar(
            world.db, "SELECT previous_secret_sealed FROM webhook_endpoints WHERE id = %s", ids[0]
        )
        == first_secret
    )

    deleted = await ada.client.delete(f"{BASE}/{ids[0]}")
    assert deleted.status_code == 200
    assert deleted.json() == {"object": "webhook_endpoint", "id": ids[0], "deleted": True}
    assert (await ada.client.get(f"{BASE}/{ids[0]}")).status_code == 404
    audited = await scalar(
        world.db,
        "SELECT array_agg(action ORDER BY action) FROM audit_events WHERE object_id = %s",
        ids[0],
    )
    assert audited == [
        "webhook_endpoint.created",
        "webhook_endpoint.deleted",
        "webhook_endpoint.secret_rolled",
        "webhook_endpoint.updated",
    ]


async def test_bad_urls_and_event_types_are_refused_and_nothing_is_made(
    world: World, make_person: MakePerson
) -> None:
    ada = await make_person()
    private = {name: world.host(address) for name, address in [
        ("loopback", "127.0.0.1"), ("ten", "10.20.30.40"), ("link_local", "169.254.169.254"),
        ("v6_loopback", "::1"), ("unique_local", "fc00::5"), ("mapped", "::ffff:10.0.0.1"),
    ]}  # fmt: skip
    cases = [(f"https://{host}/in", "webhook_url_not_public") for host in private.values()] + [
        ("https://127.0.0.1/in", "webhook_url_not_public"),
        ("https://[::1]/in", "webhook_url_not_public"),
        ("https://unknown-host.example.com/in", "webhook_url_unresolvable"),
        ("ftp://files.example.com/in", "webhook_url_not_https"),
    ]
    for url, code in cases:
        refused = await ada.client.post(BASE, json={"url": url, "event_types": ["*"]})
        assert refused.status_code == 422, url
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["code"] == code, url
    for body in (
        {"url": f"https://{world.host()}/", "event_types": []},
        {"url": f"https://{world.host()}/", "event_types": ["Payment Completed"]},
        {"url": f"https://{world.host()}/", "event_types": ["*"], "secret": "mine"},
    ):
        invalid = await ada.client.post(BASE, json=body)
        assert invalid.status_code == 422
        assert invalid.json()["code"] == "validation_error"
    listed = await ada.client.get(BASE)
    assert listed.json()["data"] == []

    good = await ada.client.post(
        BASE, json={"url": f"https://{world.host()}/", "event_types": ["*"]}
    )
    moved = await ada.client.patch(
        f"{BASE}/{good.json()['id']}", json={"url": f"https://{private['ten']}/"}
    )
    assert moved.status_code == 422
    assert moved.json()["code"] == "webhook_url_not_public"


async def test_http_is_refused_in_production(world: World, make_person: MakePerson) -> None:
    production = EgressPolicy.for_settings(Settings(environment="production"), world.resolver)
    host = world.host()
    assert (await world.egress.check(f"http://{host}/")).host == host
    with pytest.raises(DestinationRefused) as refused:
        await production.check(f"http://{host}/")
    assert refused.value.code == "webhook_url_not_https"


async def test_another_persons_endpoint_answers_404_and_is_untouched(
    world: World, make_person: MakePerson
) -> None:
    ada, eve = await make_person(), await make_person()
    created = await ada.client.post(
        BASE, json={"url": f"https://{world.host()}/", "event_types": ["*"]}
    )
    endpoint_id = created.json()["id"]
    path = f"{BASE}/{endpoint_id}"
    attempts = [
        await eve.client.get(path),
        await eve.client.patch(path, json={"enabled": False}),
        await eve.client.post(f"{path}/roll-secret", json={}),
        await eve.client.get(f"{path}/deliveries"),
        await eve.client.delete(path),
    ]
    for answer in attempts:
        assert answer.status_code == 404
        assert answer.json()["code"] == "webhook_endpoint_not_found"
    assert (await eve.client.get(BASE)).json()["data"] == []
    mine = await ada.client.get(path)
    assert mine.status_code == 200
    assert mine.json()["enabled"] is True


async def test_anonymous_callers_are_turned_away(
    world: World, anonymous_client: AsyncClient
) -> None:
    answer = await anonymous_client.post(
        BASE, json={"url": "https://x.example.com/", "event_types": ["*"]}
    )
    assert answer.status_code == 401
