"""Business rules that write, one module per subsystem.

- `sync`: the mirror of ESA (the periodic sync and every write of ESA's answers into it).
- `operations`: the outbox and audit trail of what operators ask for (request, dispatch, sweep,
  execute), with a handler per kind of operation.
- `creates`: creating jobs and batches of plans exactly once, keyed by the form that asked.

Views and tasks call these; nothing here runs inside a web request that talks to ESA.
"""
