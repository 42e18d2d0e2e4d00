"""Between people: P2P transfers, payment requests and QR codes."""
