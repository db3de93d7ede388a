"""Masked names for the public 公示 page: enough for neighbours to know whom an award is for, not enough to read a
whole name off a notice board (张桂英 → 张*英)."""

from __future__ import annotations


def masked(name: str) -> str:
    """Keep the first and the last character, one star for each in between; a two-character name keeps its first
    (王芳 → 王*); a one-character name is a star. Spaces count as characters (Li Na → L***a)."""
    chars = list(name.strip())
    if len(chars) <= 1:
        return "*"
    if len(chars) == 2:
        return chars[0] + "*"
    return chars[0] + "*" * (len(chars) - 2) + chars[-1]
