"""Every SQL statement of rewards-ledger, one module per aggregate (issue 15 §5).

One style throughout: each module holds its statements privately (a fixed `text()` for the batch statements that
take arrays, so the server keeps them prepared; SQLAlchemy Core/ORM for the rest) and exposes intent-named
`async def verb_noun(session, ...)` functions that run them inside the caller's transaction. Endpoints, handlers
and workers call these functions and never build or run a statement themselves; the rules (what is due, what is
reversed, who may see what) stay in the modules that call them.

- `facts`: what the ledger learns of records and sales (leads, sales, vehicles, cancellations, HQ's guarantees).
- `postings`: the append-only double-entry journal (postings and their lines) and the sums read from it.
- `payouts`: the two steps of a month's payout (prepared, approved).
- `locks`: the transaction-scoped advisory locks that serialize work on a record, a sale or a month.
- `roles`: what the connected database role may do to the money tables (the money guards).
"""
