"""Regenerate shared/leadnet_shared/data/regions.csv (6-digit adcode → official name) from the `cpca` package's own
table (intake already depends on it). The kit masks addresses from these names, never from the free text, and must
not pull in cpca's pandas to do so. Run: .venv/bin/python scripts/make_regions.py"""

from __future__ import annotations

import csv
from importlib import resources
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "shared" / "leadnet_shared" / "data" / "regions.csv"


def main() -> None:
    source = resources.files("cpca") / "resources" / "adcodes.csv"
    rows: dict[str, str] = {}
    with source.open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            code = row["adcode"]
            if code.endswith("000000"):
                rows[code[:6]] = row["name"]
    with OUT.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["adcode", "name"])
        writer.writerows(sorted(rows.items()))
    print(f"{len(rows)} regions → {OUT}")


if __name__ == "__main__":
    main()
