"""`leadnet`: up, token, migrate, import, import-vehicles, erase-customer."""

from __future__ import annotations

import json
import os
import re
import shlex
from pathlib import Path
from typing import Annotated

import typer

from leadnet.services import by_name

app = typer.Typer(help="leadnet: a truck maker's dealer lead network.", no_args_is_help=True, add_completion=False)

DataDir = Annotated[Path, typer.Option("--data-dir", help="Where `leadnet up` keeps its data and keys.")]


def parse_ttl(text: str) -> int:
    match = re.fullmatch(r"(\d+)([smhd]?)", text.strip())
    if not match:
        raise typer.BadParameter("use a number with s, m, h or d, e.g. 1h")
    return int(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]


@app.command()
def up(
    data_dir: DataDir = Path(".leadnet"),
    demo: Annotated[bool, typer.Option("--demo", help="Load demo dealers and print a token and a curl line.")] = False,
    broker: Annotated[str, typer.Option(help="embedded (default) or apache (needs java and mvn)")] = "embedded",
) -> None:
    """Start PostgreSQL, a Kafka-protocol broker and the four services on this machine (Ctrl-C stops all)."""
    from leadnet.up import run_up

    raise typer.Exit(run_up(data_dir=data_dir, demo=demo, broker=broker))


@app.command()
def token(
    role: Annotated[str, typer.Option(help="dealer, hq_admin or hq_analyst")],
    dealer: Annotated[str | None, typer.Option(help="The dealer code (role dealer)")] = None,
    ttl: Annotated[str, typer.Option(help="Lifetime, e.g. 1h, 30m; at most 1d (the services refuse longer)")] = "1h",
    sub: Annotated[
        str | None, typer.Option(help="The person (subject); two people of one role are two subjects")
    ] = None,
    position: Annotated[
        str | None, typer.Option(help="The person's position, e.g. plan_clerk, market_manager (contract.md Plans)")
    ] = None,
    regions: Annotated[
        str | None, typer.Option(help="HQ regional staff: adcode prefixes they cover, e.g. 37,13")
    ] = None,
    data_dir: DataDir = Path(".leadnet"),
) -> None:
    """Print a JWT accepted by the services that `leadnet up` started with the same --data-dir."""
    from leadnet_shared.auth import ROLES, mint_from_dir, parse_regions

    if role not in ROLES:
        raise typer.BadParameter(f"role must be one of {', '.join(ROLES)}")
    if role == "dealer" and not dealer:
        raise typer.BadParameter("--dealer is required for role dealer")
    try:
        minted = mint_from_dir(
            data_dir / "keys",
            role=role,
            dealer=dealer,
            sub=sub,
            ttl_seconds=parse_ttl(ttl),
            position=position,
            regions=parse_regions(regions),
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    typer.echo(minted)


@app.command()
def migrate(
    service: Annotated[
        list[str] | None, typer.Argument(help="intake, router, scheduler, ledger, console (all)")
    ] = None,
) -> None:
    """Apply each service's migrations to its database (DATABASE_URL or LEADNET_<SERVICE>_DATABASE_URL)."""
    from leadnet_shared.migrate import upgrade
    from leadnet_shared.settings import DEFAULT_SERVER_URL, database_url_for

    server = os.environ.get("DATABASE_URL", DEFAULT_SERVER_URL)
    for info in by_name(service):
        dsn = os.environ.get(f"{info.env_prefix}DATABASE_URL") or database_url_for(server, info.database)
        upgrade(info.package, dsn)
        typer.echo(f"{info.name}: migrated")


@app.command("import")
def import_file(
    path: Annotated[Path, typer.Argument(help="A CSV or NDJSON file (UTF-8 or GB18030)", exists=True)],
    url: Annotated[str, typer.Option(help="lead-intake base URL")] = "http://127.0.0.1:8001",
    token_: Annotated[str | None, typer.Option("--token", envvar="LEADNET_TOKEN", help="Bearer token")] = None,
    result: Annotated[Path | None, typer.Option(help="Per-row result file (default: FILE.results.csv)")] = None,
    batch_size: Annotated[int, typer.Option(min=1, max=1000)] = 1000,
    restart: Annotated[bool, typer.Option("--restart", help="Ignore saved progress and start over")] = False,
    settle_seconds: Annotated[
        float,
        typer.Option(help="After sending, how long to collect verdicts of rows still pending (0: leave them 202)"),
    ] = 1800,
) -> None:
    """Send a file of records through POST /v1/leads/batch, resumably, with a progress bar."""
    from lead_intake.importer import run_import

    if not token_:
        raise typer.BadParameter("give --token or set LEADNET_TOKEN (see `leadnet token`)")
    summary = run_import(
        path=path,
        base_url=url,
        token=token_,
        result_path=result,
        batch_size=batch_size,
        resume=not restart,
        progress=True,
        settle_seconds=settle_seconds,
    )
    typer.echo(
        json.dumps(
            summary.as_dict() if hasattr(summary, "as_dict") else summary.__dict__,
            ensure_ascii=False,
            default=str,
            indent=2,
        )
    )


@app.command("import-vehicles")
def import_vehicles_file(
    path: Annotated[
        Path,
        typer.Argument(
            help="A CSV with vin, model, product_line, delivered_to, delivered_at (UTF-8 or GB18030)", exists=True
        ),
    ],
    url: Annotated[str, typer.Option(help="dedup-router base URL")] = "http://127.0.0.1:8002",
    token_: Annotated[str | None, typer.Option("--token", envvar="LEADNET_TOKEN", help="An hq_admin token")] = None,
) -> None:
    """Load the maker's vehicle registry (which dealer holds which VIN): sales may only name these vehicles."""
    from leadnet.vehicle_import import import_vehicles

    if not token_:
        raise typer.BadParameter("give --token or set LEADNET_TOKEN (see `leadnet token --role hq_admin`)")
    summary = import_vehicles(path, base_url=url, token=token_)
    typer.echo(json.dumps(summary.as_dict(), ensure_ascii=False, indent=2))
    if summary.problems:
        raise typer.Exit(1)


@app.command("erase-customer")
def erase_customer(
    customer_id: Annotated[str, typer.Argument(help="The customer id (as GET /v1/customers shows it)")],
    url: Annotated[str, typer.Option(help="dedup-router base URL")] = "http://127.0.0.1:8002",
    token_: Annotated[str | None, typer.Option("--token", envvar="LEADNET_TOKEN", help="An hq_admin token")] = None,
) -> None:
    """Erase a customer's personal data everywhere (a PIPL erasure request; docs/privacy.md). Cannot be undone."""
    from urllib.parse import quote

    import httpx

    if not token_:
        raise typer.BadParameter("give --token or set LEADNET_TOKEN (see `leadnet token --role hq_admin`)")
    try:
        response = httpx.delete(
            f"{url.rstrip('/')}/v1/customers/{quote(customer_id, safe='')}",
            headers={"Authorization": f"Bearer {token_}"},
            timeout=30,
        )
    except httpx.HTTPError as exc:
        typer.echo(f"the router at {url} did not answer: {type(exc).__name__}: {exc}", err=True)
        raise typer.Exit(2) from None
    if response.status_code == 204:
        typer.echo(f"customer {customer_id} erased")
        return
    typer.echo(response.text, err=True)
    raise typer.Exit(1)


def curl_line(url: str, token_value: str, body: dict[str, object]) -> str:
    return (
        f"curl -sS -X POST {url}/v1/leads -H 'Authorization: Bearer {token_value}' "
        f"-H 'Content-Type: application/json' -d {shlex.quote(json.dumps(body, ensure_ascii=False))}"
    )


if __name__ == "__main__":
    app()
