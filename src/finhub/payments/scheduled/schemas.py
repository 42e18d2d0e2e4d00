"""Request bodies of scheduled payments."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from finhub.kit.money import MAX_AMOUNT
from finhub.payments.transfers.schemas import RecipientIn


class ScheduleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["p2p", "withdrawal"]
    to: RecipientIn | None = Field(
        None,
        description="For p2p: who is paid, by exactly one of `email`, `phone`, `username` or "
        "`wallet_id` (resolved once, when the schedule is made).",
    )
    payee_id: str | None = Field(None, max_length=64, description="For withdrawal: the payee.")
    amount: int = Field(ge=1, le=MAX_AMOUNT, description="Minor units.")
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    note: str | None = Field(None, max_length=500)
    start_at: AwareDatetime = Field(description="The first (or only) payment, UTC.")
    rule: str | None = Field(
        None,
        max_length=500,
        description="An RFC 5545 RRULE, e.g. `FREQ=WEEKLY;BYDAY=MO` or "
        "`FREQ=MONTHLY;BYMONTHDAY=-1` (DAILY, WEEKLY or MONTHLY; COUNT or UNTIL allowed).",
    )
    end_at: AwareDatetime | None = None

    @model_validator(mode="after")
    def counterparty_matches_type(self) -> ScheduleIn:
        if self.type == "p2p" and (self.to is None or self.payee_id is not None):
            raise ValueError("a p2p schedule takes `to` (and no payee_id)")
        if self.type == "withdrawal" and (self.payee_id is None or self.to is not None):
            raise ValueError("a withdrawal schedule takes `payee_id` (and no `to`)")
        return self
