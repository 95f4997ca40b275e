"""Ids in addresses: one that no row can have (beyond a 64-bit signed integer) is simply not found."""

from __future__ import annotations

from fastapi import Request

from webapp.errors import NotFound

MAX_ID = 2**63 - 1


async def ids_in_range(request: Request) -> None:
    """``NotFound`` for a numeric path parameter beyond what the database can hold (never a database error)."""
    for name, value in request.path_params.items():
        text = str(value)
        if name.endswith("_id") and (len(text) > 19 or (text.isdigit() and int(text) > MAX_ID)):
            raise NotFound(f"no such {name.removesuffix('_id').replace('_', ' ')}")
