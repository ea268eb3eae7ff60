"""Every SQL statement of hq-console, one module per aggregate (issue 15 §5).

One style throughout: each module holds its statements (a fixed `text()`, or the figures' conditions composed from
`measures`) and exposes intent-named `async def` functions taking the session first, run inside the caller's
transaction. The ingest's upserts are the one exception: fixed positional statements that `facts.Batch` runs with
`executemany` on the raw asyncpg lane (the kit's `driver_connection`), the console's hot path. Pages, endpoints and
the consumer call these and never build or run a statement themselves.

- `facts`: the ingest's upserts and fills into the fact tables, and how far the ingest has got (the watermark).
- `measures`: what each figure counts (one condition per figure) and how filters and scope become conditions.
- `figures`: the statements that count the figures: totals, totals per group, records with refusals.
- `records`: the rows behind a figure, keyset-paged.
- `directory`: dealers, networks, evaluations and plans as their topics published them.
- `sessions`: the secret that signs the console's session cookies.
"""
