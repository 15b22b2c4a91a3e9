"""What the routers of /api/v1/ share: a list a page at a time, the refusals every operation may
answer with, and who a token acts as.

Every list of the API is paged by `page_of` (`page`, `per_page`; a page past the last is a 404
naming `page`), so a client pages every list alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.core.paginator import EmptyPage, Page, Paginator
from django.db.models import QuerySet

from .errors import ApiErrorOut, not_found
from .models import ApiToken
from .schemas import PageQuery

# The refusals every operation can answer with (auth, scope, a bad id, bad input).
REFUSALS: dict[int, Any] = {401: ApiErrorOut, 403: ApiErrorOut, 404: ApiErrorOut, 422: ApiErrorOut}


def page_of[T](items: QuerySet[Any, T] | Sequence[T], query: PageQuery) -> Page[T]:
    """One page of `items`; a page past the last is a 404 naming `page` (the first always exists)."""
    try:
        return Paginator(items, query.per_page).page(query.page)
    except EmptyPage:
        raise not_found(field="page", what="page") from None


def page_facts(page: Page[Any]) -> dict[str, int]:
    paginator = page.paginator
    return {
        "page": page.number,
        "per_page": paginator.per_page,
        "total": paginator.count,
        "pages": paginator.num_pages,
    }


def token_via(token: ApiToken) -> str:
    """Who asked, as the audit log and the pages name a call through a token: "token NAME of USER"."""
    return f"token {token.name} of {token.user.get_username()}"
