"""Support tickets: a person asks finhub's staff for help and they answer in one thread."""
