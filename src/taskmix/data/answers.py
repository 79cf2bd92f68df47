"""A generation task's answer written as text: free text, or a list of items — spans, or tuples such
as (head, relation, tail) triples — written as ``item; item`` with a tuple's fields joined by
``" | "`` (``"none"`` for an empty list)."""

from __future__ import annotations

from typing import Any

ITEM_SEP = "; "
FIELD_SEP = " | "
NONE = "none"


def answer_text(value: Any) -> str:
    """A generation label as text: a string as it is; a list of spans or tuples as
    ``a; b`` / ``h | r | t; …``; an empty list as ``none``."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, (list, tuple)):
        if not value:
            return NONE
        return ITEM_SEP.join(
            FIELD_SEP.join(str(f).strip() for f in item)
            if isinstance(item, (list, tuple))
            else str(item).strip()
            for item in value
        )
    raise TypeError(f"an answer is text or a list of spans / tuples, not {type(value).__name__}")
