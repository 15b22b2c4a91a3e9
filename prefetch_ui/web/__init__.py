"""What every app uses, outside every app (NetBox's `utilities/`): the htmx plumbing (page or
fragment, the versioned poll and its live regions, refusals), who may operate, the operator's display
zone, the shared template tags, and sending a task after commit. It imports from no app, so apps
import it and never each other's internals for plumbing (tests/test_layout.py keeps it so)."""
