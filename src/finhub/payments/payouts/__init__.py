"""Money out: payees, withdrawals and ISO 20022 payout batches."""
