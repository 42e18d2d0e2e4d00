"""The ISO 20022 messages on their own: pain.001 against the XSD, pain.002 in its versions."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from finhub.integrations.iso20022 import (
    AccountRef,
    CreditTransfer,
    CreditTransferMessage,
    InvalidStatusReport,
    SchemaViolation,
    read_pain002,
    validate_pain001,
    write_pain001,
)

DEBTOR = AccountRef(iban="DE89370400440532013000", bic="COBADEFFXXX")


def message(*transfers: CreditTransfer, currency: str = "EUR") -> CreditTransferMessage:
    return CreditTransferMessage(
        message_id="pob-1",
        payment_info_id="pob-1-1",
        created_at=datetime(2026, 11, 23, 9, 30, tzinfo=UTC),
        execution_date=date(2026, 11, 23),
        currency=currency,
        scale=0 if currency == "JPY" else 2,
        sepa=currency == "EUR",
        debtor_name="finhub",
        debtor_account=DEBTOR,
        transfers=transfers,
    )


def test_a_rendered_file_validates_and_is_stable() -> None:
    transfer = CreditTransfer("pay-1", 1, "Ann", AccountRef(iban="NL91ABNA0417164300"), "x")
    document = write_pain001(message(transfer))
    validate_pain001(document)
    assert write_pain001(message(transfer)) == document
    assert b"<CtrlSum>0.01</CtrlSum>" in document
    yen = write_pain001(message(transfer, currency="JPY"))
    validate_pain001(yen)
    assert b'<InstdAmt Ccy="JPY">1</InstdAmt>' in yen


def test_schema_violations_are_reported() -> None:
    broken = CreditTransfer("pay-1", 100, "Ann", AccountRef(iban="not an iban"), "x")
    with pytest.raises(SchemaViolation) as raised:
        validate_pain001(write_pain001(message(broken)))
    assert raised.value.problems
    with pytest.raises(SchemaViolation):
        validate_pain001(b"<unclosed>")


PAIN_002_003 = b"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.002.001.03">
  <CstmrPmtStsRpt>
    <GrpHdr><MsgId>STS-42</MsgId><CreDtTm>2026-11-24T08:00:00</CreDtTm></GrpHdr>
    <OrgnlGrpInfAndSts><OrgnlMsgId>pob-1</OrgnlMsgId><OrgnlMsgNmId>pain.001.001.03</OrgnlMsgNmId>
    </OrgnlGrpInfAndSts>
    <OrgnlPmtInfAndSts>
      <OrgnlPmtInfId>pob-1-1</OrgnlPmtInfId>
      <PmtInfSts>RJCT</PmtInfSts>
      <StsRsnInf><Rsn><Cd>AM04</Cd></Rsn></StsRsnInf>
      <TxInfAndSts><OrgnlEndToEndId>pay-1</OrgnlEndToEndId></TxInfAndSts>
      <TxInfAndSts><OrgnlEndToEndId>pay-2</OrgnlEndToEndId><TxSts>ACCC</TxSts></TxInfAndSts>
      <TxInfAndSts>
        <OrgnlEndToEndId>pay-3</OrgnlEndToEndId><TxSts>RJCT</TxSts>
        <StsRsnInf><Rsn><Prtry>CLOSED</Prtry></Rsn><AddtlInf>Account closed</AddtlInf></StsRsnInf>
      </TxInfAndSts>
    </OrgnlPmtInfAndSts>
  </CstmrPmtStsRpt>
</Document>"""


def test_an_older_report_version_with_block_statuses() -> None:
    report = read_pain002(PAIN_002_003)
    assert (report.message_id, report.original_message_id) == ("STS-42", "pob-1")
    statuses = {p.end_to_end_id: (p.status, p.reason_code) for p in report.payments}
    assert statuses == {
        "pay-1": ("RJCT", "AM04"),  # inherits its block's status and reason
        "pay-2": ("ACCC", "AM04"),
        "pay-3": ("RJCT", "CLOSED"),
    }
    assert report.payments[2].reason_text == "Account closed"


@pytest.mark.parametrize(
    "document",
    [
        b"not xml",
        b"<Document/>",
        b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.001.001.09"/>',
        PAIN_002_003.replace(b"<TxSts>ACCC</TxSts>", b"<TxSts>WHAT</TxSts>"),
        PAIN_002_003.replace(b"<OrgnlMsgId>pob-1</OrgnlMsgId>", b""),
    ],
)
def test_unreadable_reports(document: bytes) -> None:
    with pytest.raises(InvalidStatusReport):
        read_pain002(document)
