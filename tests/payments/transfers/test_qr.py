"""EMVCo payloads: building, parsing back, the CRC, and what is not a finhub code."""

from __future__ import annotations

import io

import pytest
import zxingcpp
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from finhub.payments.transfers import qr
from finhub.payments.transfers.errors import QrInvalid

STATIC = qr.QrFields(
    wallet_id="wal_01JABCDEFGHJKMNPQRSTVWXYZ0",
    currency="THB",
    merchant_name="Somchai's Noodle Shop Bangkok",
    reference="FH23456789AB",
)
DYNAMIC = qr.QrFields(
    wallet_id="wal_01JABCDEFGHJKMNPQRSTVWXYZ0",
    currency="EUR",
    merchant_name="Zoë Café",
    reference="01JABCDEFGHJKMNPQRSTVWXYZ0"[-25:],
    amount=1_250,
    token="A" * 32,
)


def test_crc_is_ccitt_false() -> None:
    # The check value of CRC-16/CCITT-FALSE, from the catalogue of parametrised CRCs.
    assert qr.crc16(b"123456789") == "29B1"


def test_a_published_promptpay_payload_parses() -> None:
    # A PromptPay static code (tag 29, AID A000000677010111) as Thai banks print it.
    body = ("00020101021129370016A000000677010111011300668123456785802TH5303764") + "6304"
    payload = body + qr.crc16(body.encode())
    parsed = qr.parse_emvco(payload)
    assert parsed["initiation"] == "static"
    assert parsed["currency"] == "THB"
    assert parsed["merchant_accounts"]["29"]["00"] == "A000000677010111"
    with pytest.raises(QrInvalid):
        qr.finhub_fields(parsed)  # not finhub's scheme


def test_static_payload_round_trips() -> None:
    payload = qr.emvco_payload(STATIC)
    assert payload.startswith("000201010211")
    parsed = qr.parse_emvco(payload)
    assert parsed["fields"]["53"] == "764"
    assert parsed["amount"] is None
    assert parsed["mcc"] == "0000"
    assert parsed["merchant_name"] == "Somchai's Noodle Shop Ban"
    assert len(parsed["merchant_name"]) <= 25
    assert parsed["crc"] == payload[-4:]
    fields = qr.finhub_fields(parsed)
    assert fields.wallet_id == STATIC.wallet_id
    assert (fields.amount, fields.token, fields.reference) == (None, None, "FH23456789AB")


def test_dynamic_payload_round_trips_with_ascii_name_and_amount() -> None:
    payload = qr.emvco_payload(DYNAMIC)
    parsed = qr.parse_emvco(payload)
    assert parsed["initiation"] == "dynamic"
    assert parsed["amount"] == "12.50"
    assert parsed["merchant_name"] == "Zoe Cafe"
    fields = qr.finhub_fields(parsed)
    assert (fields.amount, fields.currency, fields.token) == (1_250, "EUR", "A" * 32)


@pytest.mark.parametrize(
    ("currency", "amount", "text"), [("JPY", 1200, "1200"), ("KWD", 1500, "1.500"),
                                      ("EUR", 5, "0.05")]
)  # fmt: skip
def test_amounts_carry_the_currencys_decimals(currency: str, amount: int, text: str) -> None:
    assert qr.format_amount(amount, currency) == text
    assert qr.amount_of(text, currency) == amount


def test_amounts_with_too_many_decimals_are_invalid() -> None:
    with pytest.raises(QrInvalid):
        qr.amount_of("1.005", "EUR")
    with pytest.raises(QrInvalid):
        qr.amount_of("-1", "EUR")


def test_every_corruption_is_caught() -> None:
    payload = qr.emvco_payload(DYNAMIC)
    tampered = payload.replace("12.50", "92.50")
    broken = [
        tampered,  # amount changed, CRC kept
        payload[:-1] + ("0" if payload[-1] != "0" else "1"),  # CRC changed
        payload[:-8],  # CRC cut off
        "hello world, not a QR payload",
        "",
    ]
    for text in broken:
        with pytest.raises(QrInvalid):
            qr.parse_emvco(text)


def test_malformed_tlv_with_a_valid_crc_is_invalid() -> None:
    body = "000201019911" + "6304"  # field 01 claims 99 characters
    with pytest.raises(QrInvalid):
        qr.parse_emvco(body + qr.crc16(body.encode()))


@given(
    name=st.text(max_size=60),
    amount=st.integers(min_value=1, max_value=10**12),
    currency=st.sampled_from(["EUR", "JPY", "THB", "KWD", "USD"]),
)
def test_any_name_and_amount_round_trip(name: str, amount: int, currency: str) -> None:
    fields = qr.QrFields(STATIC.wallet_id, currency, name, "REF", amount=amount, token="t" * 32)
    parsed = qr.finhub_fields(qr.parse_emvco(qr.emvco_payload(fields)))
    assert (parsed.amount, parsed.currency, parsed.token) == (amount, currency, "t" * 32)
    assert parsed.merchant_name.isascii()
    assert len(parsed.merchant_name) <= 25


def test_the_png_decodes_back_to_the_payload() -> None:
    payload = qr.emvco_payload(DYNAMIC)
    [barcode] = zxingcpp.read_barcodes(Image.open(io.BytesIO(qr.png(payload))))
    assert barcode.text == payload
    assert qr.parse_emvco(barcode.text)["amount"] == "12.50"


def test_the_svg_is_an_svg_image() -> None:
    svg = qr.svg(qr.emvco_payload(STATIC)).decode()
    assert svg.startswith("<?xml")
    assert "<svg" in svg
    assert "</svg>" in svg
