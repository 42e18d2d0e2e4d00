"""Second factors: TOTP with recovery codes, passkeys (WebAuthn), the payment PIN, step-up."""
