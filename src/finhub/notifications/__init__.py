"""Mail (SMTP or the local dev mailbox) and the in-app inbox."""
