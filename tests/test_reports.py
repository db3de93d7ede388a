"""Reports (随手拍) and their photos, end to end through the API: a delivery rider photographs a blocked fire exit,
an organizer verifies it and awards from the budget, the rider sees the outcome; a rejection with its reason;
nobody verifies their own report; a retried verification posts once; bad input changes nothing; a photo is
served only to the community's members and is stored without the phone's metadata."""

from __future__ import annotations

import io
import secrets
from typing import Any

import asyncpg
import pytest
from PIL import Image

from points import photos
from tests.earning_world import Person, World, make_world

JPEG = {"Content-Type": "image/jpeg"}


def key() -> dict[str, str]:
    return {"Idempotency-Key": secrets.token_hex(8)}


def phone_photo(width: int = 3000, height: int = 2000) -> bytes:
    """A JPEG as a phone writes it: EXIF with the camera, an orientation, and the GPS position."""
    image = Image.new("RGB", (width, height), (180, 40, 40))
    for x in range(0, width, 100):  # something to compress
        image.paste((20, 160, 20), (x, 0, x + 40, height))
    exif = Image.Exif()
    exif[0x010F] = "RiderPhoneMaker"  # Make
    exif[0x0112] = 6  # Orientation: the camera was held rotated 90°
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (31.0, 14.0, 3.5)  # GPSLatitudeRef, GPSLatitude
    gps[3], gps[4] = "E", (121.0, 28.0, 12.0)
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif, quality=95)
    return out.getvalue()


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", (64, 48), (0, 0, 255, 128)).save(out, "PNG")
    return out.getvalue()


@pytest.fixture
async def world(client: Any, owner_conn: asyncpg.Connection, conn: Any) -> World:
    return await make_world(client, owner_conn, conn)


async def upload(world: World, who: Person, data: bytes, headers: dict[str, str] = JPEG) -> Any:
    return await world.call(who, "POST", "/photos", content=data, headers=headers)


async def report(world: World, who: Person, text: str = "3栋消防通道被电动车堵住", **extra: Any) -> Any:
    body = {"type_id": world.types["report"]["id"], "text": text, **extra}
    return await world.call(who, "POST", "/reports", json=body)


async def test_a_riders_report_with_a_photo_is_verified_and_awarded(world: World) -> None:
    rider = world.volunteers[0]
    original = phone_photo()
    r = await upload(world, rider, original)
    assert r.status_code == 201, r.text
    photo = r.json()
    # Turned upright by its orientation (3000x2000 held rotated: 2000 wide, 3000 high), then at most 2048 px.
    assert (photo["media_type"], photo["width"], photo["height"]) == ("image/jpeg", 1365, 2048)

    # What is stored is re-encoded, with no EXIF at all: no camera, no GPS position.
    stored = await world.owner.fetchval("SELECT data FROM points.photos WHERE id = $1", photo["id"])
    assert stored != original
    assert len(stored) == photo["bytes"]
    image = Image.open(io.BytesIO(stored))
    assert (image.format, image.size) == ("JPEG", (1365, 2048))
    assert dict(image.getexif()) == {}
    assert "exif" not in image.info
    assert b"RiderPhoneMaker" not in stored
    assert b"Exif" not in stored

    # Served back to a member of the community, cached by their browser only.
    got = await world.call(world.organizer, "GET", f"/photos/{photo['id']}")
    assert got.status_code == 200, got.text
    assert got.headers["content-type"].startswith("image/jpeg")
    assert got.headers["cache-control"].startswith("private")
    assert got.content == stored

    r = await report(world, rider, photo_id=photo["id"])
    assert r.status_code == 201, r.text
    submitted = r.json()
    assert (submitted["state"], submitted["photo_id"], submitted["award_id"]) == ("submitted", photo["id"], None)

    waiting = await world.call(world.organizer, "GET", "/reports", params={"state": "submitted"})
    assert waiting.status_code == 200, waiting.text
    assert [x["id"] for x in waiting.json()] == [submitted["id"]]

    budget_before = await world.budget_left()
    r = await world.call(world.organizer, "POST", f"/reports/{submitted['id']}/verify", json={}, headers=key())
    assert r.status_code == 201, r.text
    award = r.json()
    assert (award["kind"], award["state"], award["report_id"], award["total_points"]) == (
        "report",
        "posted",
        submitted["id"],
        2,
    )
    assert await world.balance(rider) == 2
    assert await world.budget_left() == budget_before - 2

    mine = await world.call(rider, "GET", "/me/reports")
    assert mine.status_code == 200, mine.text
    [outcome] = mine.json()
    assert (outcome["state"], outcome["decided_by_member_id"]) == ("verified", world.organizer.member_id)
    assert (outcome["award_id"], outcome["award_state"], outcome["award_points"]) == (award["id"], "posted", 2)
    assert (await world.call(world.organizer, "GET", "/reports", params={"state": "submitted"})).json() == []


async def test_a_rejected_report_shows_its_reason_and_pays_nothing(world: World) -> None:
    resident = world.volunteers[1]
    r = await report(world, resident, "楼道灯坏了")
    assert r.status_code == 201, r.text
    report_id = r.json()["id"]
    r = await world.call(world.organizer, "POST", f"/reports/{report_id}/reject", json={"reason": "已有人报过，已修好"})
    assert r.status_code == 200, r.text
    assert (r.json()["state"], r.json()["decision_reason"]) == ("rejected", "已有人报过，已修好")
    [outcome] = (await world.call(resident, "GET", "/me/reports")).json()
    assert (outcome["state"], outcome["decision_reason"], outcome["award_id"]) == (
        "rejected",
        "已有人报过，已修好",
        None,
    )
    assert await world.balance(resident) == 0
    assert await world.entries() == 0


async def test_nobody_verifies_their_own_report(world: World) -> None:
    r = await report(world, world.organizer, "小区东门井盖松动")
    assert r.status_code == 201, r.text
    report_id = r.json()["id"]
    for action, body in (("verify", {}), ("reject", {"reason": "自己的"})):
        r = await world.call(world.organizer, "POST", f"/reports/{report_id}/{action}", json=body, headers=key())
        assert (r.status_code, r.json()["code"]) == (403, "forbidden"), r.text
    # The database refuses it as well.
    with pytest.raises(asyncpg.CheckViolationError, match="reports_not_own"):
        await world.owner.execute(
            "UPDATE points.reports SET state = 'verified', decided_by_member_id = reporter_member_id,"
            " decided_at = now() WHERE id = $1",
            report_id,
        )
    # A second organizer does.
    r = await world.call(world.checker, "POST", f"/reports/{report_id}/verify", json={"points": 3}, headers=key())
    assert r.status_code == 201, r.text
    assert r.json()["total_points"] == 3
    assert await world.balance(world.organizer) == 3


async def test_a_retried_verification_returns_the_same_award_and_posts_once(world: World) -> None:
    rider = world.volunteers[0]
    report_id = (await report(world, rider)).json()["id"]
    same = key()
    first = await world.call(world.organizer, "POST", f"/reports/{report_id}/verify", json={}, headers=same)
    assert first.status_code == 201, first.text
    again = await world.call(world.organizer, "POST", f"/reports/{report_id}/verify", json={}, headers=same)
    assert again.status_code == 200, again.text
    assert (again.json()["id"], again.json()["replayed"]) == (first.json()["id"], True)
    # Another organizer's click after it was verified: the report's award, not a second one.
    other = await world.call(world.checker, "POST", f"/reports/{report_id}/verify", json={}, headers=key())
    assert (other.status_code, other.json()["id"]) == (200, first.json()["id"])
    assert await world.entries() == 1
    assert await world.balance(rider) == 2


async def test_bad_input_changes_nothing(world: World, no_change_on_4xx: list[str]) -> None:
    rider, other = world.volunteers[0], world.volunteers[1]

    r = await upload(world, rider, b"this is a text file, not a photo\n" * 10)
    assert (r.status_code, r.json()["errors"][0]["code"]) == (400, "invalid"), r.text
    r = await upload(world, rider, b"GIF89a" + b"\x00" * 100)
    assert r.status_code == 400, r.text
    r = await upload(world, rider, png(), headers={"Content-Type": "text/plain"})
    assert r.status_code == 415, r.text
    r = await upload(world, rider, b"\xff\xd8\xff" + b"\x00" * photos.MAX_UPLOAD_BYTES)
    assert (r.status_code, r.json()["errors"][0]["code"]) == (400, "too_large"), r.text
    truncated = phone_photo(400, 300)[:200]
    assert (await upload(world, rider, truncated)).status_code == 400

    # A PNG sent as image/jpeg is a PNG, and stays one.
    r = await upload(world, rider, png())
    assert r.status_code == 201, r.text
    assert (r.json()["media_type"], r.json()["width"], r.json()["height"]) == ("image/png", 64, 48)
    rider_photo = r.json()["id"]

    r = await report(world, rider, "x" * 2001)
    assert r.status_code == 400, r.text
    r = await report(world, rider, "   ")
    assert r.status_code == 400, r.text
    r = await report(world, other, "别人的照片", photo_id=rider_photo)
    assert (r.status_code, r.json()["errors"][0]["key"]) == (400, "photo_id"), r.text
    assert (await report(world, rider, "没有的照片", photo_id=999_999_999)).status_code == 404
    assert (await report(world, rider, "没有的地点", place_id=999_999_999)).status_code == 404
    r = await world.call(rider, "POST", "/reports", json={"type_id": 999_999_999, "text": "未知类别"})
    assert r.status_code == 404, r.text
    r = await world.call(rider, "POST", "/reports", json={"type_id": world.types["report"]["id"], "text": "a", "x": 1})
    assert r.status_code == 400, r.text

    r = await report(world, rider, "垃圾桶满了")
    assert r.status_code == 201, r.text
    report_id = r.json()["id"]
    r = await world.call(world.organizer, "POST", f"/reports/{report_id}/verify", json={"points": 0}, headers=key())
    assert r.status_code == 400, r.text
    r = await world.call(world.organizer, "POST", f"/reports/{report_id}/reject", json={"reason": ""})
    assert r.status_code == 400, r.text
    assert (await world.call(rider, "POST", f"/reports/{report_id}/verify", json={}, headers=key())).status_code == 403
    r = await world.call(world.organizer, "POST", "/reports/999999999/verify", json={}, headers=key())
    assert r.status_code == 404, r.text
    r = await world.call(world.organizer, "POST", f"/reports/{report_id}/reject", json={"reason": "重复"})
    assert r.status_code == 200, r.text
    r = await world.call(world.organizer, "POST", f"/reports/{report_id}/verify", json={}, headers=key())
    assert (r.status_code, r.json()["code"]) == (409, "wrong_state"), r.text
    r = await world.call(world.organizer, "POST", f"/reports/{report_id}/reject", json={"reason": "再次"})
    assert (r.status_code, r.json()["code"]) == (409, "wrong_state"), r.text
    assert (await world.call(rider, "GET", "/reports", params={"state": "nope"})).status_code in (400, 403)
    assert len(no_change_on_4xx) >= 15


async def test_a_photo_is_not_served_outside_its_community(
    world: World, client: Any, owner_conn: asyncpg.Connection, conn: Any
) -> None:
    r = await upload(world, world.volunteers[0], phone_photo(800, 600))
    assert r.status_code == 201, r.text
    photo_id = r.json()["id"]
    elsewhere = await make_world(client, owner_conn, conn, volunteers=1, budget=0)
    outsider = elsewhere.volunteers[0]
    r = await world.call(outsider, "GET", f"/photos/{photo_id}")
    assert r.status_code in (403, 404), r.text
    assert r.content != (await world.call(world.volunteers[0], "GET", f"/photos/{photo_id}")).content
    # Nor under the other community's own address.
    r = await elsewhere.call(outsider, "GET", f"/photos/{photo_id}")
    assert r.status_code == 404, r.text
    # Nor to someone not signed in.
    r = await world.call(None, "GET", f"/photos/{photo_id}", headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401, r.text


async def test_a_report_whose_award_was_turned_down_is_verified_again(world: World) -> None:
    rider = world.volunteers[0]
    await world.client.put(f"{world.url}/earning-settings", json={"approval_threshold": 1})
    report_id = (await report(world, rider)).json()["id"]
    # the report type's 2 points are above the threshold: the award waits, and the second organizer turns it down
    first = await world.call(world.organizer, "POST", f"/reports/{report_id}/verify", json={}, headers=key())
    assert (first.status_code, first.json()["state"]) == (201, "pending_approval"), first.text
    r = await world.call(world.checker, "POST", f"/awards/{first.json()['id']}/reject", json={"reason": "分数太高"})
    assert (r.status_code, r.json()["state"]) == (200, "rejected"), r.text
    # a new verification with fewer points: a new award, posted at once
    again = await world.call(world.checker, "POST", f"/reports/{report_id}/verify", json={"points": 1}, headers=key())
    assert again.status_code == 201, again.text
    assert (again.json()["state"], again.json()["replayed"]) == ("posted", False)
    assert again.json()["id"] != first.json()["id"]
    assert await world.balance(rider) == 1
    mine = next(x for x in (await world.call(rider, "GET", "/me/reports")).json() if x["id"] == report_id)
    assert (mine["state"], mine["decided_by_member_id"], mine["award_state"]) == (
        "verified", world.checker.member_id, "posted",
    )  # fmt: skip


async def test_the_api_document_names_every_photo_type_it_serves(world: World) -> None:
    doc = (await world.client.get("/schema/openapi.json")).json()
    get_photo = next(
        op for path in doc["paths"].values() for op in path.values() if op.get("operationId") == "getPhoto"
    )
    assert sorted(get_photo["responses"]["200"]["content"]) == sorted(photos.MEDIA_TYPES)
    # and a PNG uploaded is served as a PNG, as the document says
    photo = (await upload(world, world.volunteers[0], png(), {"Content-Type": "image/png"})).json()
    r = await world.call(world.volunteers[0], "GET", f"/photos/{photo['id']}")
    assert (r.status_code, r.headers["content-type"]) == (200, "image/png")
