"""Pages and fragments, one module per area over the shared htmx plumbing in `htmx`.

Views read through selectors, write through services, and never call ESA.
"""
