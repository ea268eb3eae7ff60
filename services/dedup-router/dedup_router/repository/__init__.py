"""Every SQL statement of dedup-router, one module per aggregate (issue 15 §5).

One style throughout (as in rewards-ledger): each module holds its statements and exposes intent-named
`async def verb_noun(session, ...)` functions that run them inside the caller's transaction. Endpoints, handlers,
rules and workers call these functions and never build or run a statement themselves; the rules (who is routed
where, what is due, who may see what) stay in the modules that call them. The routing batch's statements keep the
raw asyncpg lane (`leadnet_shared.db.fetch` / `execute`, plain SQL with `$1` placeholders and arrays, so each text
is prepared once per connection); the rest are SQLAlchemy Core/ORM.

- `customers`: the customer registry (registration, the batch's lock and write-back, duplicate-key candidates,
  the reads of protection, the HQ queue, withdrawal and republishing), and which customers a caller may see.
- `leads`: the routed leads (saved and open ones, their insert, the locks of moves and life-cycle facts).
- `dealers`: the dealers, their change counter in `kit_state`, and the share locks routing holds on them.
- `pools`: the fairness rule's per-pool lead counts.
- `customer_file`: a customer's profile, corrections and timeline.
- `erasures`: what erasing a customer deletes, and the erasures done.
- `sales`: reported sales and their sold vehicles.
- `vehicles`: the maker's vehicle registry.
- `state`: progress rows of the router's one-off jobs in `kit_state`.
"""
