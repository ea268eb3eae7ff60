"""Every SQL statement of lead-intake, one module per aggregate (issue 15 §5).

One style throughout, the house style of `rewards_ledger.repository`: each module holds its statements privately
(a fixed SQL string sent on the asyncpg lane, `leadnet_shared.db.execute` / `fetch`, for the hot paths that take
arrays, so the server keeps them prepared; a fixed `text()` for the set-based reports; SQLAlchemy Core/ORM for the
rest) and exposes intent-named `async def verb_noun(session, ...)` functions that run them inside the caller's
transaction. Endpoints, handlers and workers call these functions and never build or run a statement themselves;
the rules (what a verdict answers, what a target is, who may see what) stay in the modules that call them.

- `leads`: the records (rows of `leads`): saving, verdicts, reassignments, life cycle, verification, reading.
- `idempotency_keys`: the claimed Idempotency-Keys and the responses remembered for replays.
- `erasure`: forgetting an erased customer (the whole rule: what is kept, what goes).
- `dealers`: what intake knows of each dealer (learnt from the dealers topic).
- `networks`: the information networks and the records counted for them.
- `network_evaluations`: the quarterly evaluations and the per-network quarter they are computed from.
- `network_plans`: the network development plans and the deadline reminders claimed for them.
- `collection_plans`: HQ's monthly plan, the dealers' breakdowns, the month's roll-ups and the hand-on judgements.
- `common`: the upsert the plans share (insert, or update the columns a later filing may change), and the
  per-column arrays of the `unnest` statements.
"""
