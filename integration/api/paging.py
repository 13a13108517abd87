"""One page of a listing: the total for the X-Pagination header, and the rows of the page asked for."""
from __future__ import annotations

from sqlalchemy import func, select

from integration.api.auth import ctx

__all__ = ["page"]


def page(query, pagination):
    """The rows of `pagination`'s page of `query`, setting its item count."""
    session = ctx().session
    pagination.item_count = session.scalar(select(func.count()).select_from(query.subquery()))
    offset = (pagination.page - 1) * pagination.page_size
    if offset >= pagination.item_count:  # past the end: nothing to fetch (and ?page=10**20 would overflow SQL)
        return []
    return session.scalars(query.offset(offset).limit(pagination.page_size)).all()
