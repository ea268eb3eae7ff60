"""The words of the follow-up rules (contract.md), typed once so every rule module spells them alike."""

from __future__ import annotations

from typing import Final, Literal, get_args

from leadnet_shared.record_blocks import Horizon as Horizon  # one list of horizons for records and rules

PACKAGE: Final = "followup_scheduler"

Tier = Literal["gold_silver", "general_big", "retail"]
TIERS: Final[tuple[Tier, ...]] = get_args(Tier)

TaskKind = Literal["callback", "promotion", "maintenance", "repurchase", "sale_report"]
TASK_KINDS: Final[tuple[TaskKind, ...]] = get_args(TaskKind)

HORIZONS: Final[tuple[Horizon, ...]] = get_args(Horizon)

# The rows of the promotion table (domain.md §5): the horizons "within one month".
PromotionHorizon = Literal["within_1_week", "within_2_weeks", "within_3_weeks", "within_4_weeks"]
PROMOTION_HORIZONS: Final[tuple[PromotionHorizon, ...]] = get_args(PromotionHorizon)

# The rows of the callback table (domain.md §4).
CallbackSituation = Literal["demand_over_one_month_reached", "uncertain", "not_yet_reached", "no_current_demand"]
CALLBACK_SITUATIONS: Final[tuple[CallbackSituation, ...]] = get_args(CallbackSituation)

Outcome = Literal[
    "bought",
    "within_1_month",
    "within_2_months",
    "within_6_months",
    "within_1_year",
    "no_demand",
    "unreachable",
]
OUTCOMES: Final[tuple[Outcome, ...]] = get_args(Outcome)

# contract.md customer.nature (domain.md §4 "Who calls": existing Auman customer, competitor's customer, new customer).
Nature = Literal["own_brand", "competitor", "new"]
NATURES: Final[tuple[Nature, ...]] = get_args(Nature)

# The method matrix's columns (domain.md §4 "How": with demand / uncertain / no current demand).
Demand = Literal["demand", "uncertain", "no_current_demand"]
DEMANDS: Final[tuple[Demand, ...]] = get_args(Demand)

# domain.md §4 "How": phone, on-site visit, invitation to the store, thank-you event 答謝會, product event 推介會,
# SMS, letter/e-mail.
Method = Literal["phone", "visit", "store_invitation", "thank_you_event", "product_event", "sms", "letter_email"]
METHODS: Final[tuple[Method, ...]] = get_args(Method)

# 按定期開展、按需求開展 (seed 000): a cell of the method matrix is worked periodically or on demand.
MethodMode = Literal["periodic", "on_demand"]
METHOD_MODES: Final[tuple[MethodMode, ...]] = get_args(MethodMode)
