"""Which card processor finhub talks to: the factory and the FastAPI dependency.

The app builds the processor once (the sandbox, until a real processor's adapter is added) and
hands it to the services. Tests pass another implementation to the services directly, or
replace the dependency with `app.dependency_overrides[card_processor]`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from finhub.api import Container
from finhub.integrations.card_sandbox import CardSandbox, HttpWebhookDelivery
from finhub.payments.topups.ports import CardProcessor
from finhub.payments.topups.settings import derived_secret, topup_settings

WEBHOOK_PATH = "/v1/payments/card-webhooks"


def webhook_secret(container: Container) -> str:
    configured = topup_settings().card_webhook_secret
    return configured or derived_secret(container.secret_key, "card-processor-webhooks")


def build_card_processor(container: Container) -> CardProcessor:
    """The card sandbox, sending its webhooks to this finhub's public URL. In the test
    environment it only keeps them: the tests fetch the signed events and post them."""
    settings = container.settings
    delivery = None
    if settings.environment != "test":
        delivery = HttpWebhookDelivery(settings.public_url.rstrip("/") + WEBHOOK_PATH)
    return CardSandbox(
        container.db,
        container.clock,
        vault_secret=derived_secret(container.secret_key, "card-sandbox-vault"),
        webhook_secret=webhook_secret(container),
        delivery=delivery,
        tolerance_seconds=topup_settings().card_webhook_tolerance_seconds,
    )


async def card_processor(request: Request) -> CardProcessor:
    """The process's card processor, built on first use."""
    state = request.app.state
    processor: CardProcessor | None = getattr(state, "card_processor", None)
    if processor is None:
        processor = build_card_processor(state.container)
        state.card_processor = processor
    return processor


CardProcessorDep = Annotated[CardProcessor, Depends(card_processor)]
