"""notifier: webhooks that tell dealers' systems what happened, and messages for the people who must act."""
