"""Payout batches: every waiting withdrawal into exactly one pain.001 file that validates
against the official ISO 20022 schema, stored and re-exported byte for byte."""

from __future__ import annotations

import asyncio
import hashlib
from importlib.resources import files
from typing import Any

import xmlschema
from httpx import AsyncClient
from lxml import etree  # type: ignore[import-untyped]

from finhub.audit.service import AuditContext
from finhub.kit.clock import OffsetClock
from finhub.kit.db import Database
from finhub.ledger.service import LedgerService
from finhub.payments.payouts import batches, repository
from tests.payments.payouts.conftest import PersonFactory
from tests.payments.payouts.support import (
    add_payee,
    batch_of,
    payouts_of,
    run_batches,
    withdraw,
)

NS = {"p": "urn:iso:std:iso:20022:tech:xsd:pain.001.001.09"}
XSD = files("sepaxml") / "schemas" / "pain.001.001.09.xsd"


def official_schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(XSD))


async def test_a_batch_exports_a_valid_sepa_file(
    people: PersonFactory, app_client: AsyncClient, db: Database, clock: OffsetClock
) -> None:
    alice, bob = await people(EUR=10_000), await people(EUR=10_000)
    to_alice = await withdraw(alice, (await add_payee(alice, name="Alice A"))["id"], 1_250)
    to_bob = await withdraw(
        bob, (await add_payee(bob, name="Bob B", iban="FR1420041010050500013M02606"))["id"], 99
    )
    created = await run_batches(app_client, "EUR")
    batch_id = await batch_of(app_client, to_alice["id"], created)
    assert await batch_of(app_client, to_bob["id"], created) == batch_id
    batch = next(b for b in created if b["id"] == batch_id)
    assert (batch["scheme"], batch["status"], batch["currency"]) == ("sepa", "exported", "EUR")

    response = await app_client.get(f"/v1/staff/payout-batches/{batch_id}/pain001")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/xml")
    document = response.content
    official_schema().validate(document)  # raises if the file breaks the official XSD
    assert hashlib.sha256(document).hexdigest() == batch["pain001_sha256"]

    tree = etree.fromstring(document)
    assert (
        tree.findtext("p:CstmrCdtTrfInitn/p:GrpHdr/p:MsgId", namespaces=NS) == batch["message_id"]
    )
    assert tree.findtext(".//p:PmtInf/p:PmtTpInf/p:SvcLvl/p:Cd", namespaces=NS) == "SEPA"
    transfers = {
        node.findtext("p:PmtId/p:EndToEndId", namespaces=NS): node
        for node in tree.iterfind(".//p:CdtTrfTxInf", namespaces=NS)
    }
    mine = transfers[to_alice["end_to_end_id"]]
    assert mine.findtext("p:Amt/p:InstdAmt", namespaces=NS) == "12.50"
    assert mine.findtext("p:CdtrAcct/p:Id/p:IBAN", namespaces=NS) == "DE89370400440532013000"
    assert mine.findtext("p:Cdtr/p:Nm", namespaces=NS) == "Alice A"
    assert transfers[to_bob["end_to_end_id"]].findtext("p:Amt/p:InstdAmt", namespaces=NS) == (
        "0.99"
    )
    total = sum(int(p["amount"]) for p in (await detail(app_client, batch_id))["payments"])
    assert tree.findtext("p:CstmrCdtTrfInitn/p:GrpHdr/p:NbOfTxs", namespaces=NS) == str(
        batch["payment_count"]
    )
    assert total == batch["control_sum"]

    # The same batch renders to the same bytes: ids and times come from the batch itself.
    async with db.connection() as conn:
        stored = await batches.get_batch(conn, batch_id)
        payouts = await repository.batch_payouts(conn, batch_id)
        payees = await repository.payees_by_id(conn, [p.payee_id for p in payouts])
    assert batches.render_pain001(stored, payouts, payees) == document
    again = await app_client.get(f"/v1/staff/payout-batches/{batch_id}/pain001")
    assert again.content == document

    shown = (await alice.client.get(f"/v1/payments/withdrawals/{to_alice['id']}")).json()
    assert (shown["payout_status"], shown["batch_id"]) == ("batched", batch_id)
    canceled = await alice.client.post(f"/v1/payments/withdrawals/{to_alice['id']}/cancel")
    assert canceled.status_code == 409
    assert canceled.json()["code"] == "withdrawal_already_batched"

    # A second run finds nothing of theirs to send again.
    later = await run_batches(app_client)
    assert all(b["id"] != batch_id for b in later)
    assert (await payouts_of(db, [to_alice["id"], to_bob["id"]])) == {
        to_alice["id"]: ("batched", batch_id),
        to_bob["id"]: ("batched", batch_id),
    }


async def detail(client: AsyncClient, batch_id: str) -> dict[str, Any]:
    response = await client.get(f"/v1/staff/payout-batches/{batch_id}")
    assert response.status_code == 200
    result: dict[str, Any] = response.json()
    return result


async def test_local_accounts_go_out_as_iso20022_transfers(
    people: PersonFactory, app_client: AsyncClient
) -> None:
    person = await people(GBP=50_000)
    payee = await add_payee(
        person, currency="GBP", iban=None, account_number="31926819", sort_code="60-16-13",
        country="GB",
    )  # fmt: skip
    withdrawal = await withdraw(person, payee["id"], 12_345, currency="GBP")
    created = await run_batches(app_client, "GBP")
    batch_id = await batch_of(app_client, withdrawal["id"], created)
    batch = next(b for b in created if b["id"] == batch_id)
    assert batch["scheme"] == "iso20022"
    document = (await app_client.get(f"/v1/staff/payout-batches/{batch_id}/pain001")).content
    official_schema().validate(document)
    tree = etree.fromstring(document)
    assert tree.find(".//p:PmtTpInf", namespaces=NS) is None  # no SEPA service level
    node = next(
        n
        for n in tree.iterfind(".//p:CdtTrfTxInf", namespaces=NS)
        if n.findtext("p:PmtId/p:EndToEndId", namespaces=NS) == withdrawal["end_to_end_id"]
    )
    assert node.findtext("p:CdtrAcct/p:Id/p:Othr/p:Id", namespaces=NS) == "31926819"
    member = node.find("p:CdtrAgt/p:FinInstnId/p:ClrSysMmbId", namespaces=NS)
    assert member.findtext("p:ClrSysId/p:Cd", namespaces=NS) == "GBDSC"
    assert member.findtext("p:MmbId", namespaces=NS) == "601613"
    assert node.find("p:Amt/p:InstdAmt", namespaces=NS).attrib["Ccy"] == "GBP"


async def test_only_payout_staff_run_batches(
    people: PersonFactory, support_client: AsyncClient
) -> None:
    person = await people()
    forbidden = await support_client.post("/v1/staff/payout-batches")
    assert forbidden.status_code == 403
    assert forbidden.json()["code"] == "permission_denied"
    assert (await person.client.post("/v1/staff/payout-batches")).status_code == 403
    assert (await person.client.get("/v1/staff/payout-batches")).status_code == 403
    missing = await support_client.get("/v1/staff/payout-batches/pob_01JZZZZZZZZZZZZZZZZZZZZZZZ")
    assert missing.status_code == 403


async def test_a_missing_batch_is_not_found(app_client: AsyncClient) -> None:
    path = "/v1/staff/payout-batches/pob_01JZZZZZZZZZZZZZZZZZZZZZZZ"
    assert (await app_client.get(path)).json()["code"] == "payout_batch_not_found"
    assert (await app_client.get(f"{path}/pain001")).status_code == 404


async def test_concurrent_runs_never_share_a_withdrawal(
    people: PersonFactory, db: Database, clock: OffsetClock
) -> None:
    person = await people(EUR=100_000)
    payee = await add_payee(person)
    ids = [(await withdraw(person, payee["id"], 100 + n))["id"] for n in range(12)]
    ledger = LedgerService(clock)
    audit = AuditContext.system("test")

    async def run() -> list[str]:
        async with db.transaction() as conn:
            created = await batches.create_batches(conn, ledger, audit, "stf_test", currency="EUR")
            return [batch.id for batch in created]

    results = await asyncio.gather(*(run() for _ in range(4)))
    batch_ids = [batch_id for result in results for batch_id in result]
    assert len(batch_ids) == len(set(batch_ids))
    placed = await payouts_of(db, ids)
    assert all(
        status == "batched" and batch_id in batch_ids for status, batch_id in placed.values()
    )
    async with db.connection() as conn:
        counted = {
            batch_id: {p.payment_id for p in await repository.batch_payouts(conn, batch_id)}
            for batch_id in batch_ids
        }
    for payment_id in ids:
        assert sum(payment_id in members for members in counted.values()) == 1
