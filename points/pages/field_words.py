"""Field problems in the reader's language: the field's label and the words of its code (points/field_problems.py).

The API says what is wrong with a field as a code with parameters (``too_long``, ``max`` 100); a page says it as
"姓名：最多 100 个字符" or "Name: at most 100 characters". Every code has words here, and every field a page can
name has a label (tests/test_pages.py holds both to points/field_problems.py).
"""

from __future__ import annotations

from typing import Any

from babel.support import Translations
from jinja2 import pass_context
from jinja2.runtime import Context

from points.field_problems import FIELD_CODES


def _(message: str) -> str:
    """Marks a message for extraction; translated when the page renders."""
    return message


# The fields the pages' forms and the CSV import name, by the key the service gives them.
FIELD_LABELS = {
    "display_name": _("Name"),
    "name": _("Name"),
    "phone": _("Phone number"),
    "password": _("Password"),
    "current_password": _("Current password"),
    "new_password": _("New password"),
    "household": _("Household"),
    "roles": _("Roles"),
    "role": _("Role"),
    "status": _("Status"),
    "place_id": _("Place"),
    "level": _("Level"),
    "header": _("Header row"),
    "file": _("File"),
    "csv": _("CSV"),
}
CSV_COLUMNS = ("name", "phone", "household", "roles")

# The words of each code, after the field's label; %(…)s are the code's parameters.
CODE_WORDS = {
    "wrong_type": _("must be %(expected)s, not %(got)s"),
    "too_small": _("must be at least %(min)s"),
    "too_large": _("must be at most %(max)s"),
    "too_short": _("must have at least %(min)s characters"),
    "too_long": _("must have at most %(max)s characters"),
    "required": _("must be filled in"),
    "contains_nul": _("holds a character that cannot be stored (U+0000)"),
    "malformed": _("is not in the expected form"),
    "not_a_phone": _("must be %(min_digits)s to %(max_digits)s digits"),
    "not_one_of": _("must be one of: %(allowed)s"),
    "needs_time_zone": _("must carry a time zone"),
    "not_a_time": _("is not a date and time"),
    "out_of_window": _("must be from %(earliest)s up to %(latest)s"),
    "not_digits": _("must be a whole number, written in digits"),
    "number_too_large": _("is a number too large to read"),
    "unknown_field": _("has a column or field not known here: %(field)s"),
    "missing_field": _("needs the column or field %(field)s"),
    "not_json": _("is not valid JSON"),
    "not_text": _("is neither UTF-8 nor GB18030 text"),
    "too_deep": _("nests too deeply"),
    "not_finite": _("must hold finite numbers only"),
    "repeated": _("is also on line %(line)s"),
    "taken": _("is already a member of this community"),
    "invalid": _("is not valid"),
}
# Lengths of lists and objects, which are counted in items rather than characters.
ITEM_WORDS = {"too_short": _("must have at least %(min)s items"), "too_long": _("must have at most %(max)s items")}
KIND_WORDS = {
    "int": _("a whole number"),
    "float": _("a number"),
    "str": _("text"),
    "bool": _("yes or no"),
    "null": _("empty"),
    "object": _("an object"),
    "array": _("a list"),
    "datetime": _("a date and time"),
}
# Choices a service names by their machine value (roles, statuses), in words.
CHOICE_WORDS = {
    "volunteer": _("Volunteer"),
    "organizer": _("Organizer"),
    "clerk": _("Clerk"),
    "admin": _("Admin"),
    "active": _("Active"),
    "suspended": _("Suspended"),
    "left": _("Left"),
}

if set(CODE_WORDS) != set(FIELD_CODES):  # a new code without words would reach a page in nobody's language
    raise RuntimeError(f"points/pages/field_words.py has no words for {sorted(set(FIELD_CODES) - set(CODE_WORDS))}")


@pass_context
def field_words(context: Context, problem: dict[str, Any]) -> str:
    """``{{ field_words(p) }}`` in a template: one field problem as a sentence in the page's language."""
    translations: Translations = context["translations"]
    gettext = translations.gettext
    code = str(problem.get("code", "invalid"))
    key = str(problem.get("key") or "")
    label = gettext(FIELD_LABELS[key]) if key in FIELD_LABELS else key
    if problem.get("source") == "csv" and key in CSV_COLUMNS:
        label = gettext("%(label)s (column %(column)s)") % {"label": label, "column": key}
    params = {name: problem.get(name, "") for name in FIELD_CODES.get(code, FIELD_CODES["invalid"]).params}
    if "expected" in params:
        params = {k: gettext(KIND_WORDS[str(v)]) if str(v) in KIND_WORDS else v for k, v in params.items()}
    if isinstance(params.get("allowed"), list):
        allowed = [gettext(CHOICE_WORDS[str(v)]) if str(v) in CHOICE_WORDS else str(v) for v in params["allowed"]]
        params["allowed"] = gettext(", ").join(allowed)
    counted_in_items = problem.get("unit") in ("items", "entries")
    template = CODE_WORDS.get(code, CODE_WORDS["invalid"])
    if counted_in_items and code in ITEM_WORDS:
        template = ITEM_WORDS[code]
    sentence = gettext(template) % params
    return gettext("%(field)s: %(problem)s") % {"field": label, "problem": sentence} if label else sentence
