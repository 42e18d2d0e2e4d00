"""QR codes in the EMVCo merchant-presented format (EMV QRCPS), the one behind PromptPay,
SGQR, DuitNow and most Asian QR schemes.

A payload is a string of TLV fields: a two-digit tag, a two-digit length and the value. finhub
writes:

    00 payload format "01"          01 point of initiation: 11 static, 12 dynamic
    26 merchant account template:   00 finhub's GUID, 01 the wallet id, 02 the request token
    52 merchant category "0000"     53 currency, ISO 4217 numeric
    54 amount (dynamic only)        58 country    59 merchant name    60 city
    62 additional data:             05 reference label
    63 CRC-16/CCITT-FALSE over everything before it, "6304" included

`emvco_payload` builds one, `parse_emvco` reads any EMVCo payload back (checking its CRC) and
`png`/`svg` render it with segno.
"""

from __future__ import annotations

import binascii
import io
import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

import iso4217
import segno

from finhub.kit.money import iso_currency
from finhub.payments.transfers.errors import QrInvalid

FINHUB_GUID = "dev.finhub"
STATIC = "11"
DYNAMIC = "12"
MCC_UNSPECIFIED = "0000"
DEFAULT_COUNTRY = "ZZ"  # ISO 3166 user-assigned: finhub has no country of its own yet
DEFAULT_CITY = "Online"
MAX_NAME = 25
MAX_CITY = 15
ACCOUNT_TEMPLATES = range(26, 52)
# Sub-tags of finhub's merchant account template.
GUID_TAG, WALLET_TAG, TOKEN_TAG = "00", "01", "02"
REFERENCE_TAG = "05"
TEMPLATE_TAGS = frozenset({f"{tag:02d}" for tag in ACCOUNT_TEMPLATES} | {"62", "64"})
CRC_TAG = "63"
PRINTABLE = re.compile(r"[^ -~]")


@dataclass(frozen=True, slots=True)
class QrFields:
    """What a finhub QR code says."""

    wallet_id: str
    currency: str
    merchant_name: str
    reference: str
    amount: int | None = None  # minor units; a dynamic code always has one
    token: str | None = None  # a payment request's token; None for a static code
    country: str = DEFAULT_COUNTRY
    city: str = DEFAULT_CITY


def crc16(data: bytes) -> str:
    """CRC-16/CCITT-FALSE (polynomial 0x1021, initial 0xFFFF), four upper-case hex digits."""
    return f"{binascii.crc_hqx(data, 0xFFFF):04X}"


def tlv(tag: str, value: str) -> str:
    if len(value) > 99:
        raise ValueError(f"EMVCo field {tag} is longer than 99 characters")
    return f"{tag}{len(value):02d}{value}"


def ascii_safe(text: str, limit: int) -> str:
    """Accents folded, anything outside printable ASCII dropped, clipped to `limit`."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return PRINTABLE.sub("", folded).strip()[:limit].strip()


def format_amount(amount: int, currency: str) -> str:
    """Minor units as the decimal string EMVCo field 54 carries ("12.50", "1000")."""
    asset = iso_currency(currency)
    if asset is None:
        raise ValueError(f"{currency} is not an ISO 4217 currency")
    return f"{asset.to_decimal(amount):.{asset.scale}f}"


def emvco_payload(fields: QrFields) -> str:
    """The payload string of a static (no amount, no token) or dynamic code."""
    account = tlv(GUID_TAG, FINHUB_GUID) + tlv(WALLET_TAG, fields.wallet_id)
    if fields.token is not None:
        account += tlv(TOKEN_TAG, fields.token)
    parts = [
        tlv("00", "01"),
        tlv("01", DYNAMIC if fields.token is not None else STATIC),
        tlv("26", account),
        tlv("52", MCC_UNSPECIFIED),
        tlv("53", f"{iso4217.Currency(fields.currency).number:03d}"),
    ]
    if fields.amount is not None:
        parts.append(tlv("54", format_amount(fields.amount, fields.currency)))
    parts += [
        tlv("58", fields.country),
        tlv("59", ascii_safe(fields.merchant_name, MAX_NAME) or "finhub user"),
        tlv("60", ascii_safe(fields.city, MAX_CITY) or DEFAULT_CITY),
        tlv("62", tlv(REFERENCE_TAG, fields.reference)),
    ]
    body = "".join(parts) + CRC_TAG + "04"
    return body + crc16(body.encode())


# --- reading ----------------------------------------------------------------------------------


def split_tlv(data: str) -> list[tuple[str, str]]:
    """The (tag, value) pairs of a TLV string; malformed input raises `QrInvalid`."""
    fields: list[tuple[str, str]] = []
    position = 0
    while position < len(data):
        head = data[position : position + 4]
        if len(head) < 4 or not head.isdigit():
            raise QrInvalid("The QR payload is not a valid EMVCo TLV string.")
        length = int(head[2:])
        value = data[position + 4 : position + 4 + length]
        if len(value) != length:
            raise QrInvalid("A field of the QR payload runs past its end.")
        fields.append((head[:2], value))
        position += 4 + length
    return fields


def parse_emvco(payload: str) -> dict[str, Any]:
    """Every field of an EMVCo merchant-presented payload, after checking its CRC.

    Returns `payload_format`, `initiation` ("static"/"dynamic"), `merchant_accounts` (tag →
    sub-fields), `mcc`, `currency` (alphabetic), `amount` (the decimal string, or None),
    `country`, `merchant_name`, `city`, `additional_data` (sub-fields), `crc` and `fields`
    (every top-level tag → raw value)."""
    payload = payload.strip()
    _check_crc(payload)
    fields = dict(split_tlv(payload))
    if fields.get("00") != "01":
        raise QrInvalid("The QR payload's format indicator must be 01.")
    initiation = {STATIC: "static", DYNAMIC: "dynamic"}.get(fields.get("01", STATIC))
    if initiation is None:
        raise QrInvalid("The QR payload's point of initiation must be 11 or 12.")
    if "53" not in fields:
        raise QrInvalid("The QR payload has no currency (field 53).")
    return {
        "payload_format": fields["00"],
        "initiation": initiation,
        "merchant_accounts": {
            tag: dict(split_tlv(value))
            for tag, value in fields.items()
            if tag.isdigit() and int(tag) in ACCOUNT_TEMPLATES
        },
        "mcc": fields.get("52"),
        "currency": currency_of(fields["53"]),
        "amount": fields.get("54"),
        "country": fields.get("58"),
        "merchant_name": fields.get("59"),
        "city": fields.get("60"),
        "additional_data": dict(split_tlv(fields["62"])) if "62" in fields else {},
        "crc": fields[CRC_TAG],
        "fields": fields,
    }


def _check_crc(payload: str) -> None:
    if len(payload) < 8 or payload[-8:-4] != CRC_TAG + "04":
        raise QrInvalid("The QR payload does not end with its CRC (field 63).")
    try:
        expected = crc16(payload[:-4].encode("ascii"))
    except UnicodeEncodeError:
        raise QrInvalid("The QR payload is not ASCII.") from None
    if payload[-4:].upper() != expected:
        raise QrInvalid("The QR payload's CRC does not match: it is damaged or altered.")


@lru_cache(maxsize=1)
def _currencies_by_number() -> dict[int, str]:
    return {currency.number: currency.code for currency in iso4217.Currency}


def currency_of(numeric: str) -> str:
    code = _currencies_by_number().get(int(numeric)) if numeric.isdigit() else None
    if code is None or iso_currency(code) is None:
        raise QrInvalid(f"The QR payload's currency {numeric!r} is not an ISO 4217 currency.")
    return code


def amount_of(text: str, currency: str) -> int:
    """Field 54 as minor units; more decimals than the currency has is invalid."""
    asset = iso_currency(currency)
    assert asset is not None
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise QrInvalid(f"The QR payload's amount {text!r} is not a number.") from None
    minor = value.scaleb(asset.scale)
    if not value.is_finite() or value <= 0 or minor != minor.to_integral_value():
        raise QrInvalid(f"The QR payload's amount {text!r} is not a valid {currency} amount.")
    return int(minor)


def finhub_fields(parsed: dict[str, Any]) -> QrFields:
    """The finhub account a parsed payload points at; a QR of another scheme is invalid."""
    account = next(
        (
            sub
            for sub in parsed["merchant_accounts"].values()
            if sub.get(GUID_TAG) == FINHUB_GUID and sub.get(WALLET_TAG)
        ),
        None,
    )
    if account is None:
        raise QrInvalid("This QR code is not a finhub payment code.")
    token = account.get(TOKEN_TAG)
    currency = parsed["currency"]
    amount = amount_of(parsed["amount"], currency) if parsed["amount"] is not None else None
    if parsed["initiation"] == "dynamic" and (token is None or amount is None):
        raise QrInvalid("A dynamic finhub QR code carries a request token and an amount.")
    return QrFields(
        wallet_id=account[WALLET_TAG],
        currency=currency,
        merchant_name=parsed["merchant_name"] or "",
        reference=parsed["additional_data"].get(REFERENCE_TAG, ""),
        amount=amount,
        token=token,
        country=parsed["country"] or DEFAULT_COUNTRY,
        city=parsed["city"] or DEFAULT_CITY,
    )


# --- images -----------------------------------------------------------------------------------


def png(payload: str, scale: int = 8) -> bytes:
    buffer = io.BytesIO()
    segno.make(payload, error="m", micro=False).save(buffer, kind="png", scale=scale, border=4)
    return buffer.getvalue()


def svg(payload: str, scale: int = 8) -> bytes:
    buffer = io.BytesIO()
    segno.make(payload, error="m", micro=False).save(
        buffer, kind="svg", scale=scale, border=4, xmldecl=True, title="finhub payment code"
    )
    return buffer.getvalue()
