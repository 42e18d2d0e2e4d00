"""API keys for people and organisations (`fh_live_…`, `fh_test_…`)."""
