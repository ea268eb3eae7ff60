"""Every SQL statement of followup-scheduler, one module per aggregate (issue 15 §5).

One style throughout, as in rewards-ledger: each module holds its statements privately (a fixed `text()` for the
set-based statements, so the server keeps them prepared; SQLAlchemy Core/ORM for the rest) and exposes
intent-named `async def verb_noun(session, ...)` functions that run them inside the caller's transaction.
Endpoints, handlers and workers call these functions and never build or run a statement themselves; the rules
(what is due, what a sale stops, who may see what) stay in the modules that call them.

- `leads`: the leads the scheduler follows and the customers' current tiers.
- `tasks`: tasks and their actions (planning, moving, cancelling, completing, listing, retention).
- `timers`: the set-based claims that fire tasks and write their events, the overdue digest, plan reminders.
- `sales`: the confirmed sales the scheduler has taken in.
- `work_plans`: callback and promotion plans, their lines and steps, the dealers' units, the roll-up's figures.
- `plans`: the dealers' monthly sales plans and the task counts their quotas are checked against.
"""
