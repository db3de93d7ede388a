"""The swap table part of the demo community (points/demo.py calls it): 亲邻易物台 at the 阳光社区 station, with a few
open listings with photos (drawn with Pillow when the demo loads: no image files ship), one accepted proposal
waiting for its hand-over (陈美华's kettle plus 10 points for 刘志强's rice cooker) and one past swap (李建国's
bookshelf, given away free to 黄立新, confirmed by 张桂兰 at the table). Fictional people, as the rest of the demo.

Built through the services the API uses; listings are found by member and title before they are added, and the
proposals carry fixed idempotency keys (accepting or confirming a second time answers the same), so loading twice
changes nothing."""

from __future__ import annotations

import io

from PIL import Image, ImageDraw

import ledger
from catalog import swap_listings, swaps
from catalog.demo import _access
from points import photos
from points.members.service import Member

# (member index into the demo's people, title, condition, wants, free, colour of its picture, taken in at the table)
LISTINGS: list[tuple[int, str, str, str, bool, str, bool]] = [
    (3, "电饭煲 3L", "good", "电水壶或积分", False, "#d9534f", False),
    (4, "电水壶", "like_new", "", False, "#5bc0de", False),
    (0, "台灯", "good", "绿植", False, "#f0ad4e", False),
    (7, "儿童自行车", "fair", "20积分", False, "#5cb85c", False),
    (6, "毛线围巾", "new", "", True, "#9b59b6", True),
    (1, "旧书架", "worn", "", True, "#8d6e63", False),
]
STAFF = 2  # 张桂兰, the clerk, also keeps the table


def picture(colour: str, label: str) -> bytes:
    """A small PNG of the item: a coloured card with a simple shape, so each listing shows its own photo."""
    image = Image.new("RGB", (320, 240), "#f7f3ea")
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((40, 30, 280, 210), radius=24, fill=colour)
    draw.ellipse((120, 80, 200, 160), fill="#ffffff")
    draw.text((52, 40), label.encode("ascii", "ignore").decode() or "item", fill="#ffffff")
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


async def _listing(
    conn: ledger.Connection, members: list[Member], n: int, row: tuple[int, str, str, str, bool, str, bool]
) -> int:
    who, title, condition, wants, free, colour, at_table = row
    member = members[who]
    found = await swap_listings.list_listings(
        conn, member.community_id, statuses=swap_listings.STATUSES, member_id=member.id, limit=200
    )
    for listing in found:
        if listing.title == title:
            return listing.id
    photo = photos.accept_photo(picture(colour, f"listing {n}"))
    photo_id = await photos.store_photo(conn, member.community_id, member.id, photo)
    creator = _access(members[STAFF], "clerk", "volunteer") if at_table else _access(member, "volunteer")
    created = await swap_listings.create_listing(
        conn, creator, title=title, condition=condition, wants=wants, free=free, photo_id=photo_id,
        for_member_id=member.id if at_table else None,
    )  # fmt: skip
    return created.id


async def load_swap_table(conn: ledger.Connection, community_id: int, members: list[Member]) -> None:
    ids = [await _listing(conn, members, n, row) for n, row in enumerate(LISTINGS)]
    cooker, kettle, _, _, _, shelf = ids
    waiting = await swaps.propose(
        conn, _access(members[4], "volunteer"), take=[cooker], give=[kettle], points=10,
        note="电水壶九成新，再加10积分", idempotency_key="demo:swap:1",
    )  # fmt: skip
    await swaps.accept(conn, _access(members[3], "volunteer"), waiting.id)
    past = await swaps.propose(
        conn, _access(members[7], "volunteer"), take=[shelf], note="正好给孩子放书", idempotency_key="demo:swap:2"
    )
    await swaps.accept(conn, _access(members[1], "organizer", "volunteer"), past.id)
    await swaps.confirm_handover(conn, _access(members[STAFF], "clerk", "volunteer"), past.id, as_staff=True)
