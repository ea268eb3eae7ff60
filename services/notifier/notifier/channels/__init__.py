"""Channels that reach people (group robots, SMS, e-mail): see the modules of this package."""
