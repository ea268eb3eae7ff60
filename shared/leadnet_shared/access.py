"""Who may write and read which topic, and which service is the one source of each event type (issue 16 §5).

One table for three places that must agree:
- the broker's ACLs: one Kafka user per service (`deploy/base/kafka/users.yaml` on Kubernetes,
  `deploy/compose/kafka-users.sh` in compose), which tests/deploy compares with this table;
- the outbox, which refuses to write an event to a topic its service may not write (`Outbox(writes=...)`), so a
  test finds the event the production broker would refuse, rather than the relay in production;
- the consumers that pay money, which accept an event type only from the service that produces it
  (`ConsumerSpec.sources`): an event of the right type from the wrong `source` is refused and dead-lettered.

The broker ACLs are the control (a service's credentials cannot write another service's topics); the `source`
check narrows a shared topic (`leadnet.public.leads.v1` has two writers) to the one producer of each type. The
`source` attribute is what the producer wrote, so it holds against a misrouted or mistaken event, not against a
compromised writer of the same topic.
"""

from __future__ import annotations

from collections.abc import Iterable

from leadnet_shared.events import (
    CUSTOMERS,
    DEAD_LETTERS,
    DEALERS,
    LEADS,
    LEADS_INTERNAL,
    LEDGER,
    NETWORKS,
    PLANS,
    SALES,
    TASKS,
    TOPICS,
)

SERVICES = ("intake", "router", "scheduler", "ledger", "console", "notifier")

# The topics each service's outbox writes (without the deployment's prefix). Every service with a consumer writes
# its dead letters.
WRITES: dict[str, frozenset[str]] = {
    "intake": frozenset({LEADS_INTERNAL, LEADS, NETWORKS, DEAD_LETTERS}),  # LEADS: HQ's return of a record
    "router": frozenset({LEADS, CUSTOMERS, DEALERS, SALES, DEAD_LETTERS}),
    # LEADS_INTERNAL: a recheck's corrections; PLANS: the dealers' plans on the approval chain
    "scheduler": frozenset({LEADS, LEADS_INTERNAL, TASKS, PLANS, DEAD_LETTERS}),
    "ledger": frozenset({LEDGER, DEAD_LETTERS}),
    "console": frozenset({DEAD_LETTERS}),  # produces nothing: an HQ dashboard only reads
    "notifier": frozenset({DEAD_LETTERS}),  # it tells dealers' systems and people; it publishes no fact
}

# The topics each service's consumers read (their ConsumerSpecs; tests/test_access.py compares).
READS: dict[str, frozenset[str]] = {
    "intake": frozenset({LEADS, LEADS_INTERNAL, DEALERS}),  # corrections (a new record version); dealer directory
    "router": frozenset({LEADS_INTERNAL, LEADS, CUSTOMERS, TASKS, SALES, LEDGER}),  # the customer timeline reads all
    "scheduler": frozenset({LEADS, DEALERS, SALES}),
    "ledger": frozenset({LEADS, SALES}),
    # the HQ console reads every public topic, as any dashboard HQ runs would (contract.md "HQ console"),
    # including those added later: the catalogue's public topics, not a list of its own
    "console": frozenset(t.name for t in TOPICS if t.public),
    # what webhooks and messages tell of (NETWORKS: network and collection deadlines for people; PLANS: plan
    # submissions and decisions for the people who act on them); dealer directory
    "notifier": frozenset({LEADS, TASKS, LEDGER, SALES, NETWORKS, PLANS, DEALERS}),
}

# The one service that produces each event type (the dead letter is every consumer's, so it has none).
PRODUCER_OF: dict[str, str] = {
    "leadnet.lead.submitted": "intake",
    "leadnet.lead.accepted": "router",
    "leadnet.lead.rejected": "router",
    "leadnet.lead.refused": "intake",
    "leadnet.lead.reassigned": "router",
    "leadnet.lead.verified": "scheduler",
    "leadnet.lead.closed": "scheduler",
    "leadnet.lead.returned": "intake",
    "leadnet.lead.reopened": "scheduler",
    "leadnet.lead.corrected": "scheduler",
    "leadnet.customer.upserted": "router",
    "leadnet.customer.corrected": "router",
    "leadnet.customer.erased": "router",
    "leadnet.customer.tier_changed": "router",
    "leadnet.dealer.upserted": "router",
    "leadnet.dealer.withdrawn": "router",
    "leadnet.task.scheduled": "scheduler",
    "leadnet.task.due": "scheduler",
    "leadnet.task.completed": "scheduler",
    "leadnet.task.overdue": "scheduler",
    "leadnet.task.escalated": "scheduler",
    "leadnet.task.overdue_digest": "scheduler",
    "leadnet.plan.reminder": "scheduler",
    "leadnet.plan.submitted": "scheduler",
    "leadnet.plan.approved": "scheduler",
    "leadnet.plan.rejected": "scheduler",
    "leadnet.plan.late": "scheduler",
    "leadnet.sale.attributed": "router",
    "leadnet.sale.cancelled": "router",
    "leadnet.sale.pending_confirmation": "router",
    "leadnet.sale.rejected": "router",
    "leadnet.ledger.entry_posted": "ledger",
    "leadnet.network.evaluated": "intake",
    "leadnet.network.plan_reminder": "intake",
    "leadnet.network.upserted": "intake",
    "leadnet.collection.plan_issued": "intake",
    "leadnet.collection.hand_on_flagged": "intake",
}


def source_of(service: str) -> str:
    """The CloudEvents `source` a service's outbox stamps on its events."""
    return f"/leadnet/{service}"


def consumer_group_prefix(service: str, topic_prefix: str = "") -> str:
    """Every consumer group of a service starts with this (`create_service_app`): its ACL is a prefix ACL."""
    return f"{topic_prefix}leadnet-{service}-"


def trusted_sources(types: Iterable[str]) -> dict[str, str]:
    """For a consumer: the only `source` accepted for each of its event types (a KeyError names an event type
    whose producer is not declared here)."""
    return {event_type: source_of(PRODUCER_OF[event_type]) for event_type in types}
