"""The one writer of every CSV the service hands out. Nothing else writes CSV.

Text is stored as it was given, but a cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return is a formula to Excel and LibreOffice ("CSV injection": ``=HYPERLINK(...)`` in a member's name runs
when an admin opens the register). Such a text cell is written with a leading apostrophe, which spreadsheets
show as text; numbers are written as numbers, never escaped, so numeric columns stay numeric. A UTF-8 byte
order mark comes first so that Excel reads Chinese as UTF-8, not as the machine's ANSI code page.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

MEDIA_TYPE = "text/csv"  # Litestar adds "; charset=utf-8" to text/* types: the header says text/csv; charset=utf-8
BOM = "\ufeff"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
ESCAPE = "'"

Cell = str | int | None


def escape_cell(value: Cell) -> str | int:
    """What goes into the file for one cell: numbers as they are, text made inert."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = "" if value is None else str(value)
    return ESCAPE + text if text.startswith(FORMULA_STARTS) else text


def unescape_cell(text: str) -> str:
    """The reverse, for reading our own files back (the member import): an escaped formula start loses its
    apostrophe, so an exported register imports as it was stored."""
    if text.startswith(ESCAPE) and text[1:].startswith(FORMULA_STARTS):
        return text[1:]
    return text


def write_csv(header: Sequence[str], rows: Iterable[Sequence[Cell]]) -> bytes:
    """The whole file, with a BOM and a header row, CRLF line ends as RFC 4180 has them."""
    out = io.StringIO()
    out.write(BOM)
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([escape_cell(h) for h in header])
    for row in rows:
        writer.writerow([escape_cell(cell) for cell in row])
    return out.getvalue().encode("utf-8")
