"""What is wrong with one field of a request, as a stable code with its parameters.

A refused request's problem+json carries ``errors``, one item per field: ``key`` (the field's path), ``source``
(body, query, path, header, csv), the English ``message`` it always had, and a ``code`` from the table below with
the code's parameters beside it (``{"key": "display_name", "code": "too_long", "max": 100, "unit": "characters"}``).
Clients and the pages match on the code and word it themselves; the pages do so in the reader's language
(points/pages/field_words.py), so a Chinese page never shows an English sentence. The CSV import reports each bad
line's problems the same way.

Nothing here imports the rest of the service: the services raise with these, the error map (points/errors.py)
turns decoding errors into them, and ``GET /problems/{code}`` describes each.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class FieldCode:
    title: str  # a few words, for GET /problems/{code}
    params: tuple[str, ...]  # the members that come with the code
    english: str  # the words after the field's name, str.format()ted with the parameters


# msgspec's names for JSON types, as the ``expected`` and ``got`` of wrong_type carry them.
KINDS = {
    "int": "a whole number",
    "float": "a number",
    "str": "text",
    "bool": "true or false",
    "null": "null",
    "object": "an object",
    "array": "a list",
    "datetime": "a date and time with its time zone",
}
UNITS = ("characters", "items", "entries")

FIELD_CODES: dict[str, FieldCode] = {
    "wrong_type": FieldCode("Of the wrong type", ("expected", "got"), "must be {expected}, not {got}"),
    "too_small": FieldCode("Too small", ("min",), "must be at least {min}"),
    "too_large": FieldCode("Too large", ("max",), "must be at most {max}"),
    "too_short": FieldCode("Too short", ("min", "unit"), "must have at least {min} {unit}"),
    "too_long": FieldCode("Too long", ("max", "unit"), "must have at most {max} {unit}"),
    "required": FieldCode("Missing", (), "is required"),
    "contains_nul": FieldCode("Holds the NUL character", (), "must not contain the NUL character (U+0000)"),
    "malformed": FieldCode("Not in the expected form", ("pattern",), "is not in the expected form"),
    "not_a_phone": FieldCode(
        "Not a phone number", ("min_digits", "max_digits"), "must be {min_digits} to {max_digits} digits"
    ),
    "not_one_of": FieldCode("Not one of the choices", ("allowed", "value"), "must be one of {allowed}"),
    "needs_time_zone": FieldCode(
        "A time without its time zone", (), "must carry a time zone, e.g. 2026-11-01T09:00:00+08:00"
    ),
    "not_a_time": FieldCode("Not a date and time", (), "must be a date and time like 2026-11-01T09:00:00+08:00"),
    "out_of_window": FieldCode(
        "A time outside the window", ("earliest", "latest"), "must be from {earliest} up to {latest}"
    ),
    "not_digits": FieldCode("Not written in digits", (), "must be a whole number, written in digits"),
    "number_too_large": FieldCode("A number too large to read", (), "is a number too large to read"),
    "unknown_field": FieldCode("An unknown field", ("field",), "has a field this operation does not know: {field}"),
    "missing_field": FieldCode("A required field is missing", ("field",), "needs the field {field}"),
    "not_json": FieldCode("Not JSON", (), "is not valid JSON"),
    "not_text": FieldCode("Not text", (), "is neither UTF-8 nor GB18030 text"),
    "too_deep": FieldCode("Nested too deeply", ("max",), "may nest at most {max} levels deep"),
    "not_finite": FieldCode("Not a finite number", (), "must hold finite numbers only"),
    "repeated": FieldCode("Given twice", ("line",), "is also on line {line}"),
    "taken": FieldCode("Already taken", (), "is already a member"),
    "invalid": FieldCode("Not valid", (), "is not valid"),
}


def english(code: str, params: dict[str, Any]) -> str:
    """The English words of a code, after the field's name."""
    known = FIELD_CODES.get(code, FIELD_CODES["invalid"])
    values = {name: params.get(name, "") for name in known.params}
    if "expected" in values:
        values = {**values, "expected": KINDS.get(str(values["expected"]), values["expected"])}
        values["got"] = KINDS.get(str(values["got"]), values["got"])
    if isinstance(values.get("allowed"), list):
        values["allowed"] = ", ".join(str(v) for v in values["allowed"])
    return known.english.format(**values)


def field_problem(
    key: str, code: str, *, source: str = "body", message: str | None = None, **params: Any
) -> dict[str, Any]:
    """One ``errors`` item. ``message`` defaults to the field's name and the code's English words."""
    if code not in FIELD_CODES:  # a typo here would reach clients as a code nobody documents
        raise ValueError(f"unknown field problem code {code!r}: add it to points.field_problems.FIELD_CODES")
    words = message if message is not None else f"{key} {english(code, params)}".strip()
    return {"key": key, "source": source, "code": code, **params, "message": words}
