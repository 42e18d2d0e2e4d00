"""Webhook endpoints, signed deliveries fed by the outbox, and payment notifications."""
