"""dedup-router: customer registry, duplicates, territory routing, cross-region protection, withdrawal."""
