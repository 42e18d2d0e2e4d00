"""pain.002: the bank's customer payment status report for a pain.001 file.

The reader accepts any pain.002.001.xx version (the elements it needs keep their names and
places across versions) and never resolves entities or fetches anything. A status given for
the whole group or payment-information block applies to every transaction it does not list on
its own. The writer produces pain.002.001.10 (the report that answers pain.001.001.09); the
sandbox bank and the tests use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from lxml import etree  # type: ignore[import-untyped]  # lxml ships no type information

WRITE_NAMESPACE = "urn:iso:std:iso:20022:tech:xsd:pain.002.001.10"
NAMESPACE_PREFIX = "urn:iso:std:iso:20022:tech:xsd:pain.002."
MAX_REPORT_BYTES = 5_000_000

# ISO 20022 ExternalPaymentTransactionStatus1Code values that end a transfer.
SETTLED = frozenset({"ACSC", "ACCC"})
REJECTED = frozenset({"RJCT"})
KNOWN = SETTLED | REJECTED | frozenset({"ACTC", "ACCP", "ACSP", "ACWC", "ACWP", "PDNG", "RCVD"})


class InvalidStatusReport(ValueError):
    """The document is not a pain.002 finhub can read."""


@dataclass(frozen=True, slots=True)
class PaymentStatus:
    end_to_end_id: str
    status: str  # ACSC, ACCC, RJCT, or an interim status (ACTC, PDNG, …)
    reason_code: str | None = None
    reason_text: str | None = None

    @property
    def settled(self) -> bool:
        return self.status in SETTLED

    @property
    def rejected(self) -> bool:
        return self.status in REJECTED


@dataclass(frozen=True, slots=True)
class StatusReport:
    message_id: str
    original_message_id: str
    group_status: str | None
    group_reason_code: str | None
    payments: tuple[PaymentStatus, ...]  # one per transaction the report names


def read_pain002(document: bytes) -> StatusReport:
    """Parse a pain.002; raise `InvalidStatusReport` for anything else."""
    root = _parse(document)
    report = _child(root, "CstmrPmtStsRpt")
    if report is None:
        raise InvalidStatusReport("The document is not a customer payment status report.")
    message_id = _text(report, "GrpHdr", "MsgId")
    group = _child(report, "OrgnlGrpInfAndSts")
    original_message_id = _text(group, "OrgnlMsgId") if group is not None else None
    if not message_id or not original_message_id:
        raise InvalidStatusReport("GrpHdr/MsgId and OrgnlGrpInfAndSts/OrgnlMsgId are required.")
    assert group is not None
    group_status = _text(group, "GrpSts")
    group_reason = _reason(group)
    payments: list[PaymentStatus] = []
    for block in _children(report, "OrgnlPmtInfAndSts"):
        block_status = _text(block, "PmtInfSts") or group_status
        block_reason = _reason(block) or group_reason
        for transaction in _children(block, "TxInfAndSts"):
            payments.append(_payment(transaction, block_status, block_reason))
    for status in [group_status, *(p.status for p in payments)]:
        if status is not None and status not in KNOWN:
            raise InvalidStatusReport(f"Unknown transaction status {status!r}.")
    return StatusReport(
        message_id=message_id,
        original_message_id=original_message_id,
        group_status=group_status,
        group_reason_code=group_reason[0] if group_reason else None,
        payments=tuple(payments),
    )


def write_pain002(
    *,
    message_id: str,
    created_at: datetime,
    original_message_id: str,
    original_payment_info_id: str,
    payments: list[PaymentStatus],
    group_status: str | None = None,
) -> bytes:
    """A pain.002.001.10 report: `group_status` for the whole file, and one TxInfAndSts per
    entry of `payments`."""
    nsmap = {None: WRITE_NAMESPACE}
    document = etree.Element(f"{{{WRITE_NAMESPACE}}}Document", nsmap=nsmap)
    report = _sub(document, "CstmrPmtStsRpt")
    header = _sub(report, "GrpHdr")
    _sub(header, "MsgId", message_id)
    stamp = created_at.astimezone(UTC).replace(microsecond=0, tzinfo=None)
    _sub(header, "CreDtTm", stamp.isoformat() + "Z")
    group = _sub(report, "OrgnlGrpInfAndSts")
    _sub(group, "OrgnlMsgId", original_message_id)
    _sub(group, "OrgnlMsgNmId", "pain.001.001.09")
    if group_status:
        _sub(group, "GrpSts", group_status)
    if payments:
        block = _sub(report, "OrgnlPmtInfAndSts")
        _sub(block, "OrgnlPmtInfId", original_payment_info_id)
        for payment in payments:
            transaction = _sub(block, "TxInfAndSts")
            _sub(transaction, "OrgnlInstrId", payment.end_to_end_id)
            _sub(transaction, "OrgnlEndToEndId", payment.end_to_end_id)
            _sub(transaction, "TxSts", payment.status)
            if payment.reason_code:
                reason = _sub(transaction, "StsRsnInf")
                _sub(_sub(reason, "Rsn"), "Cd", payment.reason_code)
                if payment.reason_text:
                    _sub(reason, "AddtlInf", payment.reason_text[:105])
    return bytes(
        etree.tostring(document, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    )


def _parse(document: bytes) -> etree._Element:
    if len(document) > MAX_REPORT_BYTES:
        raise InvalidStatusReport("The report is too large.")
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
    )
    try:
        root = etree.fromstring(document, parser)
    except etree.XMLSyntaxError as error:
        raise InvalidStatusReport(f"The report is not well-formed XML: {error}") from error
    namespace = etree.QName(root).namespace or ""
    if etree.QName(root).localname != "Document" or not namespace.startswith(NAMESPACE_PREFIX):
        raise InvalidStatusReport("The document is not an ISO 20022 pain.002 message.")
    return root


def _payment(
    transaction: etree._Element,
    block_status: str | None,
    block_reason: tuple[str, str | None] | None,
) -> PaymentStatus:
    end_to_end_id = _text(transaction, "OrgnlEndToEndId")
    if not end_to_end_id:
        raise InvalidStatusReport("A transaction status has no OrgnlEndToEndId.")
    status = _text(transaction, "TxSts") or block_status
    if status is None:
        raise InvalidStatusReport(f"No status for transaction {end_to_end_id}.")
    reason = _reason(transaction) or block_reason
    return PaymentStatus(
        end_to_end_id=end_to_end_id,
        status=status,
        reason_code=reason[0] if reason else None,
        reason_text=reason[1] if reason else None,
    )


def _reason(node: etree._Element) -> tuple[str, str | None] | None:
    """The first status reason: its code (or proprietary reason) and additional text."""
    info = _child(node, "StsRsnInf")
    if info is None:
        return None
    code = _text(info, "Rsn", "Cd") or _text(info, "Rsn", "Prtry")
    if code is None:
        return None
    return code, _text(info, "AddtlInf")


def _child(node: etree._Element, name: str) -> etree._Element | None:
    for child in node:
        if isinstance(child.tag, str) and etree.QName(child).localname == name:
            return child
    return None


def _children(node: etree._Element, name: str) -> list[etree._Element]:
    return [
        child
        for child in node
        if isinstance(child.tag, str) and etree.QName(child).localname == name
    ]


def _text(node: etree._Element | None, *path: str) -> str | None:
    for name in path:
        if node is None:
            return None
        node = _child(node, name)
    if node is None or node.text is None:
        return None
    return node.text.strip() or None


def _sub(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    node = etree.SubElement(parent, f"{{{WRITE_NAMESPACE}}}{tag}")
    if text is not None:
        node.text = text
    return node
