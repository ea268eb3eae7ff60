"""Vendor the HQ console's browser libraries (Apache ECharts, HTMX) into the package's static folder.

An HQ intranet has no internet, so the console serves every script itself (no CDN). The files come from the npm
registry by `npm pack` at the versions pinned in `vendor.toml` beside them, and each file's SHA-256 is checked
against the pin: a registry that served other bytes for the same version fails the refresh instead of shipping.

    python scripts/vendor_console_assets.py            # check the files in the package against vendor.toml
    python scripts/vendor_console_assets.py --refresh  # npm pack the pinned versions again, verify, write
    python scripts/vendor_console_assets.py --refresh --repin  # after changing a version: record the new hashes
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tarfile
import tempfile
import tomllib
from pathlib import Path

VENDOR_DIR = Path(__file__).resolve().parent.parent / "services/hq-console/hq_console/web/static/vendor"
MANIFEST = VENDOR_DIR / "vendor.toml"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check() -> list[str]:
    """The files whose bytes differ from their pin (empty when all match)."""
    manifest = tomllib.loads(MANIFEST.read_text())
    bad = []
    for entry in manifest["package"]:
        for target, digest in entry["files"].items():
            path = VENDOR_DIR / target
            if not path.exists() or sha256(path.read_bytes()) != digest:
                bad.append(target)
    return bad


def refresh(*, repin: bool) -> None:
    manifest = tomllib.loads(MANIFEST.read_text())
    lines = [MANIFEST.read_text().split("[[package]]")[0].rstrip() + "\n"]
    with tempfile.TemporaryDirectory() as tmp:
        for entry in manifest["package"]:
            spec = f"{entry['npm']}@{entry['version']}"
            out = subprocess.run(
                ["npm", "pack", spec, "--silent"], cwd=tmp, check=True, capture_output=True, text=True
            ).stdout.split()[-1]
            with tarfile.open(Path(tmp) / out) as archive:
                new_files: dict[str, str] = {}
                for target, source in entry["sources"].items():
                    member = archive.extractfile(f"package/{source}")
                    if member is None:
                        raise SystemExit(f"{spec} has no {source}")
                    data = member.read()
                    digest = sha256(data)
                    if not repin and entry["files"].get(target) != digest:
                        raise SystemExit(f"{spec} {source}: sha256 {digest} is not the pinned one; not written")
                    (VENDOR_DIR / target).write_bytes(data)
                    new_files[target] = digest
            lines.append("\n[[package]]\n")
            lines.append(f'npm = "{entry["npm"]}"\nversion = "{entry["version"]}"\nlicense = "{entry["license"]}"\n')
            lines.append("sources = { " + ", ".join(f'"{k}" = "{v}"' for k, v in entry["sources"].items()) + " }\n")
            lines.append("files = { " + ", ".join(f'"{k}" = "{v}"' for k, v in new_files.items()) + " }\n")
            print(f"{spec}: {', '.join(new_files)}")
    if repin:
        MANIFEST.write_text("".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--refresh", action="store_true", help="npm pack the pinned versions and write the files")
    parser.add_argument("--repin", action="store_true", help="with --refresh: record the new files' hashes")
    args = parser.parse_args()
    if args.refresh:
        refresh(repin=args.repin)
    bad = check()
    if bad:
        sys.exit(f"vendored files differ from vendor.toml: {', '.join(bad)}")
    print("vendored console assets match vendor.toml")


if __name__ == "__main__":
    main()
