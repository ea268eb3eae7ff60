"""followup-scheduler: callbacks and promotions on time, once; plans and quotas (domain.md sections 4-6)."""
