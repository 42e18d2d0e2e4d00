"""The ledger's rule violations, each a 4xx with a stable code."""

from __future__ import annotations

from finhub.errors import Conflict, FinhubError, NotFound, Unprocessable


class LedgerRuleError(FinhubError):
    """A transaction that breaks a ledger rule; nothing it asked for is applied."""

    status = 422
    code = "ledger_rule_violated"
    title = "The ledger rejected the transaction"


class InsufficientFunds(LedgerRuleError):
    code = "insufficient_funds"
    title = "Insufficient funds"


class LimitExceeded(LedgerRuleError):
    code = "limit_exceeded"
    title = "Account limit exceeded"


class UnbalancedTransaction(LedgerRuleError):
    code = "unbalanced_transaction"
    title = "Debits and credits do not balance"


class AssetMismatch(LedgerRuleError):
    code = "asset_mismatch"
    title = "Asset does not match the account"


class AccountClosed(LedgerRuleError):
    code = "account_closed"
    title = "Account is closed"


class AmountOverflow(LedgerRuleError):
    code = "amount_overflow"
    title = "Amount or balance exceeds 128 bits"


class InvalidTransaction(LedgerRuleError):
    code = "invalid_transaction"
    title = "Invalid transaction"


class UnknownAccount(LedgerRuleError):
    code = "account_not_found"
    title = "Account not found"


class UnknownAsset(Unprocessable):
    code = "unknown_asset"
    title = "Unknown asset"


class AccountNotFound(NotFound):
    code = "account_not_found"
    title = "Account not found"


class TransactionNotFound(NotFound):
    code = "transaction_not_found"
    title = "Transaction not found"


class AlreadyResolved(Conflict):
    code = "transaction_already_resolved"
    title = "The pending transaction was already posted, voided or expired"


class NotPending(Conflict):
    code = "transaction_not_pending"
    title = "Only a pending transaction can be posted or voided"


class PendingExpired(Conflict):
    code = "pending_expired"
    title = "The pending transaction has expired"


class AlreadyReversed(Conflict):
    code = "transaction_already_reversed"
    title = "The transaction was already reversed"


class NotReversible(Conflict):
    code = "transaction_not_reversible"
    title = "Only a posted transaction can be reversed"


class AccountNotEmpty(Conflict):
    code = "account_not_empty"
    title = "An account with a balance or pending amounts can't be closed"


class DuplicateExternalRef(Conflict):
    code = "duplicate_external_ref"
    title = "An account with this external reference already exists in the ledger"


class AssetExists(Conflict):
    code = "asset_exists"
    title = "The asset already exists"
