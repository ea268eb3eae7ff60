"""A small client for the leadnet HTTP API, for dealer systems (DMS) and scripts: see docs/integration.md."""

from leadnet_client.client import LeadnetClient, Problem
from leadnet_client.webhooks import WebhookVerificationError, verify_webhook

__all__ = ["LeadnetClient", "Problem", "WebhookVerificationError", "verify_webhook"]
