"""Outside systems behind ports, each with a sandbox that behaves like the real thing."""
