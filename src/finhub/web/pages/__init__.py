"""One module per group of pages, each exposing `router` (see `finhub.web`)."""
