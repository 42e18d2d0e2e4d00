"""The webhooks module's errors, each with a stable problem `code`."""

from __future__ import annotations

from finhub.errors import NotFound, Unprocessable


class DestinationRefused(Unprocessable):
    """A webhook URL finhub will not call (not https, not public, unresolvable)."""

    code = "webhook_url_refused"
    title = "Webhook URL refused"


class InvalidEventType(Unprocessable):
    code = "invalid_event_type"
    title = "Unknown event type pattern"


class EndpointNotFound(NotFound):
    code = "webhook_endpoint_not_found"
    title = "No such webhook endpoint"


class DeliveryNotFound(NotFound):
    code = "webhook_delivery_not_found"
    title = "No such webhook delivery"
