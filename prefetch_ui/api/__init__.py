"""The HTTP API under /api/v1/ (django-ninja, its OpenAPI schema and docs page served by the app),
and the API tokens that open it: each a user's, with scopes, an expiry, and a secret shown once.

- `models`: the tokens (only a hash of each secret is kept).
- `services`: creating, revoking and authenticating a token; `selectors`: a user's tokens and what
  a user, and so a token of theirs, may do (its scopes).
- `auth`: `Authorization: Bearer <token>` for ninja, scope by scope; `errors`: the JSON refusals.
- `v1`: the endpoints, thin, on prefetch's selectors; `schemas`: their shapes.
- `views` and `forms`: the tokens page (/api/tokens/), which needs a login like every page.

Nothing imports this app: it reads the others' selectors and calls their services.
"""
