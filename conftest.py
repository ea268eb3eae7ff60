"""Root conftest: the real-infrastructure fixtures of the kit, for every test directory."""

pytest_plugins = ["leadnet_shared.testing"]
