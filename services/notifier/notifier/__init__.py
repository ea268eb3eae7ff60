"""notifier: webhooks that tell dealers' systems what happened, and messages for the people who must act."""

PACKAGE = "notifier"  # whose policy files the rules read: notifier/policy/*.toml
