"""The 公示 window: awards published before they count, objections by neighbours, the admin's decisions, and the
scheduled settling of awards whose window has ended (migration 0016)."""
