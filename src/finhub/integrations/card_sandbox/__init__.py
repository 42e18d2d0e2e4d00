"""A card processor sandbox (test cards, 3-D Secure, signed webhooks) behind finhub's
`CardProcessor` port."""

from finhub.integrations.card_sandbox.delivery import HttpWebhookDelivery, WebhookDelivery
from finhub.integrations.card_sandbox.sandbox import CardSandbox

__all__ = ["CardSandbox", "HttpWebhookDelivery", "WebhookDelivery"]
