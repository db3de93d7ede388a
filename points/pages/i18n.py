"""Languages of the pages: Babel message catalogues, and dates and numbers in the reader's locale.

zh-CN is the default; English is the other. The choice lives in the ``lang`` cookie, and for a signed-in person in
``people.locale`` too, which the sign-in puts back into the cookie. Catalogues are
``locale/<locale>/LC_MESSAGES/messages.po``, compiled to ``.mo`` by ``python3 dev.py i18n`` (extract, update,
compile) and shipped with the package.

Rendering never touches a global: each page's context carries its own ``translations`` (see ``gettext`` below),
so two requests in two languages can render at the same time.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_skeleton, format_time
from babel.numbers import format_decimal
from babel.support import Translations
from jinja2 import pass_context
from jinja2.runtime import Context

LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "messages"
DEFAULT_LOCALE = "zh_CN"
LOCALES = ("zh_CN", "en")
LANG_COOKIE = "lang"
# What <html lang> and the switch call each locale.
HTML_LANG = {"zh_CN": "zh-CN", "en": "en"}
# Communities keep no time zone yet; every community in the seeds is in China.
TIME_ZONE = ZoneInfo("Asia/Shanghai")


def choose_locale(cookie: str | None) -> str:
    """The cookie's locale if it is one we have, else the default (an unknown value is not an error)."""
    return cookie if cookie in LOCALES else DEFAULT_LOCALE


@cache
def translations(locale: str) -> Translations:
    """The compiled catalogue of a locale, loaded once per process."""
    found = Translations.load(str(LOCALE_DIR), [locale], domain=DOMAIN)
    if not isinstance(found, Translations):  # a missing .mo: a packaging mistake, not a fallback to English
        raise RuntimeError(f"no compiled catalogue for {locale} in {LOCALE_DIR}; run python3 dev.py i18n")
    return found


@dataclass(frozen=True, slots=True)
class Formats:
    """Dates, times and numbers as the reader's locale writes them (11月20日, Nov 20; 1,234)."""

    locale: str

    def day(self, moment: datetime) -> str:
        local = moment.astimezone(TIME_ZONE)
        skeleton = "MMMd" if local.year == datetime.now(TIME_ZONE).year else "yMMMd"
        return format_skeleton(skeleton, local, locale=self.locale)

    def time(self, moment: datetime) -> str:
        return format_time(moment.astimezone(TIME_ZONE), format="short", locale=self.locale)

    def number(self, value: int) -> str:
        return format_decimal(value, locale=self.locale)

    def signed(self, value: int) -> str:
        """+5, −3: an amount with its direction always shown."""
        return ("+" if value > 0 else "") + format_decimal(value, locale=self.locale)

    @property
    def display_name(self) -> str:
        """The locale's own name for itself (中文 (中国), English), for the switch."""
        return Locale.parse(self.locale).get_display_name(self.locale) or self.locale


@pass_context
def gettext(context: Context, message: str) -> str:
    """``{% trans %}`` and ``_()`` in templates: the catalogue of the page being rendered."""
    catalogue: Translations = context["translations"]
    return catalogue.gettext(message)


@pass_context
def ngettext(context: Context, singular: str, plural: str, n: int) -> str:
    catalogue: Translations = context["translations"]
    return catalogue.ngettext(singular, plural, n)


def extract_problem_titles(
    fileobj: Any, keywords: Any, comment_tags: Any, options: Any
) -> Iterator[tuple[int, str, str, list[str]]]:
    """A Babel extractor (babel.cfg) for points/errors.py: the title of every problem code, so that pages show the
    API's own words for an error, translated, and nobody types them a second time."""
    from points.errors import problem_catalog

    for code, problem in sorted(problem_catalog().items()):
        if problem.get("field_problem"):  # pages word these themselves (points/pages/field_words.py)
            continue
        yield 0, "gettext", str(problem["title"]), [f"problem {code}"]
