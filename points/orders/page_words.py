"""The words of the service orders' pages (points/orders/pages.py): states, history, unit kinds, the form labels and
the refusals in the reader's words. Marked with ``_`` for the catalogues; the templates translate them."""

from __future__ import annotations

from points.pages.web import _

# An order's state, said from the resident's side: where it stands and what happens next.
STATE_WORDS = {
    "ordered": _("Waiting for a dispatcher"),
    "dispatched": _("Sent out, waiting to be taken"),
    "accepted": _("Taken, being done"),
    "done": _("Done: waiting for the resident's confirmation"),
    "confirmed": _("Confirmed"),
    "disputed": _("Disputed: back with the dispatcher"),
    "cancelled": _("Cancelled"),
}
EVENT_WORDS = {
    "ordered": _("Order placed"),
    "dispatched": _("Dispatched"),
    "accepted": _("Accepted"),
    "declined": _("Declined"),
    "expired": _("Not taken in time: back with the dispatcher"),
    "done": _("Marked done"),
    "confirmed": _("Confirmed"),
    "auto_confirmed": _("Counted as confirmed (nobody confirmed it in time)"),
    "disputed": _("Disputed"),
    "cancelled": _("Cancelled"),
}
KIND_WORDS = {
    "property": _("Property company"),
    "school": _("School"),
    "hospital": _("Hospital"),
    "company": _("Company"),
    "organisation": _("Organisation"),
    "other": _("Other"),
}
LABELS = {
    "type_id": _("What kind of help?"),
    "description": _("What is needed?"),
    "place_id": _("Where"),
    "wished_at": _("When would suit you (optional)"),
    "photo": _("Photo"),
    "photo_ids": _("Photos"),
    "for_member_id": _("For whom"),
    "member_id": _("For whom"),
    "due_at": _("Due by"),
    "unit_id": _("Send to"),
    "volunteer_ids": _("Volunteers"),
    "points": _("Points for each person who does it"),
    "note": _("Note"),
    "reason": _("Reason"),
    "public": _("Photos on the public page"),
}
# A refusal of an order's move in the reader's words (its title stays above them): (code) -> words.
REFUSAL_WORDS = {
    "order_wrong_state": _("This order has moved on already: the page shows where it stands now."),
    "unit_does_not_offer": _("That unit does not offer this kind of help, or takes no orders now: choose another."),
    "order_not_due": _("That due time has passed: choose a later one."),
    "forbidden": _("This is not yours to do on this order."),
    "idempotency_key_reused": _("This form placed another order already: open it again."),
}
# A field the service refused, in words saying what to do (the field problems' own words are generic there).
FIELD_WORDS = {
    "due_at": _("Choose a due time after now and at most 90 days ahead."),  # service.MAX_DUE_DAYS
    "volunteer_ids": _("Choose a unit, or tick the volunteers to send it to (find them by name first)."),
}
# What each page's "done=" says after a move (a redirect after the POST, so a reload does not post again).
DONE_WORDS = {
    "ordered": _("Your order is in. A dispatcher sends it to a co-building unit or to volunteers."),
    "dispatched": _("Dispatched."),
    "accepted": _("You have taken it. Mark it done when it is."),
    "declined": _("Declined: it is back with the dispatcher."),
    "done": _("Marked done: the resident is asked to confirm."),
    "confirmed": _("Thank you for confirming. Those who did it get their points."),
    "disputed": _("Disputed: the dispatcher will look at it again."),
    "cancelled": _("Cancelled."),
    "consent": _("Saved."),
    "saved": _("Saved."),
}
