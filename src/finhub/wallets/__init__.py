"""Multi-currency wallets of people: balances in the ledger, the activity feed, statements."""
