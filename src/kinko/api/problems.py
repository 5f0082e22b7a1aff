"""A request field's problem, as the validator found it, in the reader's language.

FastAPI's validator (pydantic) words each problem in English ("Field required"); the
refusal keeps those words in its details (the same in every language) and says the problem
itself through the catalog, by the validator's kind of problem and its figures, where
kinko knows the kind (else only that the field is missing or not valid).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kinko.domain.messages import N_, Message, msg

__all__ = ["field_problem"]

# the validator's kind of problem → the catalog's words, and the figures they name
_KINDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "missing": (N_("error.field.missing"), ()),
    "extra_forbidden": (N_("error.field.extra"), ()),
    "string_type": (N_("error.field.string"), ()),
    "int_type": (N_("error.field.integer"), ()),
    "int_parsing": (N_("error.field.integer"), ()),
    "int_from_float": (N_("error.field.integer"), ()),
    "bool_type": (N_("error.field.boolean"), ()),
    "bool_parsing": (N_("error.field.boolean"), ()),
    "list_type": (N_("error.field.list"), ()),
    "dict_type": (N_("error.field.object"), ()),
    "model_type": (N_("error.field.object"), ()),
    "model_attributes_type": (N_("error.field.object"), ()),
    "string_too_long": (N_("error.field.too_long"), ("max_length",)),
    "string_too_short": (N_("error.field.too_short"), ("min_length",)),
    "too_long": (N_("error.field.too_many"), ("max_length",)),
    "too_short": (N_("error.field.too_few"), ("min_length",)),
    "greater_than_equal": (N_("error.field.at_least"), ("ge",)),
    "greater_than": (N_("error.field.above"), ("gt",)),
    "less_than_equal": (N_("error.field.at_most"), ("le",)),
    "less_than": (N_("error.field.below"), ("lt",)),
    "literal_error": (N_("error.field.one_of"), ("expected",)),
}


def field_problem(field: str, error: Mapping[str, Any]) -> Message:
    """What is wrong with ``field``, from one of the validator's errors."""
    kind = _KINDS.get(str(error.get("type", "")))
    context = error.get("ctx") or {}
    if kind is None or any(name not in context for name in kind[1]):  # the validator's
        # own words for it are in the refusal's details
        return msg("error.api_field", field=field, detail=msg("error.field.invalid"))
    figures = {name: str(context[name])[:200] for name in kind[1]}
    if "expected" in figures:  # the validator's "'a' or 'b'", in no language's words
        figures["expected"] = figures["expected"].replace(" or ", ", ")
    problem = msg(kind[0], **figures)
    return msg("error.api_field", field=field, detail=problem)
