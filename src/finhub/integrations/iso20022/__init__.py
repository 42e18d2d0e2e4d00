"""ISO 20022 bank messages for payouts: pain.001 credit-transfer initiation (written and checked
against the official XSD) and pain.002 payment status reports (read, and written by the sandbox
bank and in tests).

This package knows the message formats only; which payments go into a file and what a status
means for a wallet is decided by `finhub.payments.payouts`.
"""

from finhub.integrations.iso20022.pain001 import (
    AccountRef,
    CreditTransfer,
    CreditTransferMessage,
    write_pain001,
)
from finhub.integrations.iso20022.pain002 import (
    InvalidStatusReport,
    PaymentStatus,
    StatusReport,
    read_pain002,
    write_pain002,
)
from finhub.integrations.iso20022.schema import SchemaViolation, validate_pain001

__all__ = [
    "AccountRef",
    "CreditTransfer",
    "CreditTransferMessage",
    "InvalidStatusReport",
    "PaymentStatus",
    "SchemaViolation",
    "StatusReport",
    "read_pain002",
    "validate_pain001",
    "write_pain001",
    "write_pain002",
]
