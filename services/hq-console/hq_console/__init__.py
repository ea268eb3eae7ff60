"""hq-console: the measures HQ runs the dealer network by, built only from the public topics."""
