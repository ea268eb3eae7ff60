"""The `leadnet` command: start everything on one machine, mint tokens, migrate, import files."""
