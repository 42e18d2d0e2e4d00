"""Staff: the back-office identity (support, compliance, operations, admin)."""
