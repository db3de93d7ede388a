"""Every page controller, for points/app.py: kept apart from points/pages/web.py, which every page module imports
for render() and the error pages, so that importing any one page module first never meets a half-loaded web.py."""

from __future__ import annotations

from points.orders.pages import OrderPages
from points.orders.unit_pages import UnitPages
from points.pages.activities import VolunteerPages
from points.pages.admin import AdminPages
from points.pages.counter import CounterPages
from points.pages.earning_settings import EarningSettingsPages
from points.pages.expiry_settings import ExpirySettingsPages
from points.pages.organize import OrganizePages
from points.pages.publication import PublicationPages
from points.pages.shop import ShopPages
from points.pages.swap import SwapPages
from points.pages.web import PageController

PAGE_HANDLERS = [
    PageController,  # home, sign-in, 我的积分, the language switch
    AdminPages,  # the member register and its import, the password page
    VolunteerPages,  # activities, check-in, my activities, reports (points/pages/activities.py)
    OrganizePages,  # the organizer's earning pages (points/pages/organize.py)
    EarningSettingsPages,  # the admin's earning settings (points/pages/earning_settings.py)
    ShopPages,  # the volunteer's supermarket: payment code, catalogue, receipts (points/pages/shop.py)
    CounterPages,  # the clerk's counter, receipts and returns, stock, the day (points/pages/counter.py)
    ExpirySettingsPages,  # the admin's points-expiry setting (points/pages/expiry_settings.py)
    PublicationPages,  # 公示: the public page, the admin's objections and window setting (points/pages/publication.py)
    SwapPages,  # the swap table: browse, list, propose, my swaps; the table's staff (points/pages/swap.py)
    OrderPages,  # service orders: 点单, the order's page, 接单, 派单, the public 晒单 (points/orders/pages.py)
    UnitPages,  # the co-building units and the orders' timeouts (points/orders/unit_pages.py)
]
