"""pain.001.001.09: the customer credit-transfer initiation a bank accepts as a payout file.

The document is a pure function of its input: no clock, no random ids. Message, payment
information and end-to-end ids come from the caller (derived from finhub's own ids), and the
creation time is the batch's, so rendering the same batch again gives the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

from lxml import etree  # type: ignore[import-untyped]  # lxml ships no type information

NAMESPACE = "urn:iso:std:iso:20022:tech:xsd:pain.001.001.09"
SCHEMA_VERSION = "pain.001.001.09"
NSMAP = {None: NAMESPACE}
REMITTANCE_MAX = 140
NAME_MAX = 70


@dataclass(frozen=True, slots=True)
class AccountRef:
    """A bank account: an IBAN, or a local account number with the bank's clearing code
    (`clearing_system` is an ISO external clearing system code: GBDSC, USABA, …)."""

    iban: str | None = None
    bic: str | None = None
    account_number: str | None = None
    clearing_system: str | None = None
    clearing_code: str | None = None


@dataclass(frozen=True, slots=True)
class CreditTransfer:
    end_to_end_id: str  # at most 35 characters; the bank quotes it back in its reports
    amount: int  # minor units
    creditor_name: str
    creditor_account: AccountRef
    remittance: str


@dataclass(frozen=True, slots=True)
class CreditTransferMessage:
    message_id: str
    payment_info_id: str
    created_at: datetime
    execution_date: date
    currency: str
    scale: int  # the currency's minor-unit exponent
    sepa: bool  # EUR to IBANs in the SEPA zone: service level SEPA, charges shared (SLEV)
    debtor_name: str
    debtor_account: AccountRef
    transfers: tuple[CreditTransfer, ...]

    @property
    def control_sum(self) -> int:
        return sum(transfer.amount for transfer in self.transfers)


def write_pain001(message: CreditTransferMessage) -> bytes:
    """The pain.001.001.09 document for `message`, UTF-8 with an XML declaration."""
    if not message.transfers:
        raise ValueError("a credit transfer message needs at least one transfer")
    document = etree.Element("Document", nsmap=NSMAP)
    initiation = _sub(document, "CstmrCdtTrfInitn")
    _group_header(initiation, message)
    _payment_information(initiation, message)
    return bytes(
        etree.tostring(document, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    )


def decimal_amount(amount: int, scale: int) -> str:
    """Minor units as the decimal the schema wants (`12.50` for 1250 cents)."""
    value = Decimal(amount).scaleb(-scale)
    return f"{value:.{scale}f}"


def _group_header(parent: etree._Element, message: CreditTransferMessage) -> None:
    header = _sub(parent, "GrpHdr")
    _sub(header, "MsgId", message.message_id)
    _sub(header, "CreDtTm", _timestamp(message.created_at))
    _sub(header, "NbOfTxs", str(len(message.transfers)))
    _sub(header, "CtrlSum", decimal_amount(message.control_sum, message.scale))
    _sub(_sub(header, "InitgPty"), "Nm", message.debtor_name[:NAME_MAX])


def _payment_information(parent: etree._Element, message: CreditTransferMessage) -> None:
    info = _sub(parent, "PmtInf")
    _sub(info, "PmtInfId", message.payment_info_id)
    _sub(info, "PmtMtd", "TRF")
    _sub(info, "BtchBookg", "true")
    _sub(info, "NbOfTxs", str(len(message.transfers)))
    _sub(info, "CtrlSum", decimal_amount(message.control_sum, message.scale))
    if message.sepa:
        _sub(_sub(_sub(info, "PmtTpInf"), "SvcLvl"), "Cd", "SEPA")
    _sub(_sub(info, "ReqdExctnDt"), "Dt", message.execution_date.isoformat())
    _sub(_sub(info, "Dbtr"), "Nm", message.debtor_name[:NAME_MAX])
    _account(info, "DbtrAcct", message.debtor_account, message.currency)
    _agent(info, "DbtrAgt", message.debtor_account)
    _sub(info, "ChrgBr", "SLEV" if message.sepa else "SHAR")
    for transfer in message.transfers:
        _transfer(info, transfer, message)


def _transfer(
    parent: etree._Element, transfer: CreditTransfer, message: CreditTransferMessage
) -> None:
    node = _sub(parent, "CdtTrfTxInf")
    payment_id = _sub(node, "PmtId")
    _sub(payment_id, "InstrId", transfer.end_to_end_id)
    _sub(payment_id, "EndToEndId", transfer.end_to_end_id)
    amount = _sub(_sub(node, "Amt"), "InstdAmt", decimal_amount(transfer.amount, message.scale))
    amount.set("Ccy", message.currency)
    account = transfer.creditor_account
    if account.bic or account.clearing_code:
        _agent(node, "CdtrAgt", account)
    _sub(_sub(node, "Cdtr"), "Nm", transfer.creditor_name[:NAME_MAX])
    _account(node, "CdtrAcct", account, None)
    _sub(_sub(node, "RmtInf"), "Ustrd", transfer.remittance[:REMITTANCE_MAX])


def _account(parent: etree._Element, tag: str, account: AccountRef, currency: str | None) -> None:
    node = _sub(parent, tag)
    identification = _sub(node, "Id")
    if account.iban:
        _sub(identification, "IBAN", account.iban)
    else:
        other = _sub(identification, "Othr")
        _sub(other, "Id", account.account_number or "")
        _sub(_sub(other, "SchmeNm"), "Cd", "BBAN")
    if currency:
        _sub(node, "Ccy", currency)


def _agent(parent: etree._Element, tag: str, account: AccountRef) -> None:
    institution = _sub(_sub(parent, tag), "FinInstnId")
    if account.bic:
        _sub(institution, "BICFI", account.bic)
    elif account.clearing_code:
        member = _sub(institution, "ClrSysMmbId")
        _sub(_sub(member, "ClrSysId"), "Cd", account.clearing_system or "")
        _sub(member, "MmbId", account.clearing_code)
    else:
        _sub(_sub(institution, "Othr"), "Id", "NOTPROVIDED")


def _timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(microsecond=0, tzinfo=None).isoformat() + "Z"


def _sub(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    node = etree.SubElement(parent, f"{{{NAMESPACE}}}{tag}")
    if text is not None:
        node.text = text
    return node
