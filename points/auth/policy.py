"""Who may call what: one declarative table, operation id -> rule.

Every HTTP operation must appear here; tests/test_authz_matrix.py walks the
OpenAPI document and fails for any operation without a rule, and then tries
every operation as every kind of caller against this table.

Community roles come from the member's role grants in the community named by
the path (never from the request body). A street admin (街道) reads the
communities under that street; a platform operator opens communities.
"""

from __future__ import annotations

from dataclasses import dataclass

VOLUNTEER = "volunteer"
ORGANIZER = "organizer"
CLERK = "clerk"
ADMIN = "admin"
STREET_ADMIN = "street_admin"  # implied for communities under a street the person administers
COMMUNITY_ROLES = (VOLUNTEER, ORGANIZER, CLERK, ADMIN)


@dataclass(frozen=True, slots=True)
class Rule:
    public: bool = False  # anyone, signed in or not
    signed_in: bool = False  # any signed-in person
    operator: bool = False  # platform operators
    roles: frozenset[str] = frozenset()  # any of these roles in the path's community
    own_account: bool = False  # ... or the caller's own wallet (path parameter account_id)
    personal: bool = False  # not with a device token: a session or a personal token only

    def describe(self) -> str:
        if self.public:
            return "public"
        parts = []
        if self.signed_in:
            parts.append("signed in")
        if self.operator:
            parts.append("operator")
        if self.roles:
            parts.append(" / ".join(sorted(self.roles)))
        if self.own_account:
            parts.append("own wallet")
        if self.personal:
            parts.append("no device token")
        return ", ".join(parts)


PUBLIC = Rule(public=True)
SIGNED_IN = Rule(signed_in=True)
# A counter terminal's device token works in its community only; a stolen terminal must not mint tokens, list or
# revoke the person's others, or change the password (which ends every other sign-in).
PERSONAL = Rule(signed_in=True, personal=True)
OPERATOR = Rule(operator=True)


def roles(*names: str, own_account: bool = False) -> Rule:
    return Rule(roles=frozenset(names), own_account=own_account)


MEMBERS = roles(VOLUNTEER, ORGANIZER, CLERK, ADMIN, STREET_ADMIN)
ADMINS = roles(ADMIN)
ADMIN_READ = roles(ADMIN, STREET_ADMIN)
ACCOUNT_READ = roles(ADMIN, STREET_ADMIN, own_account=True)
STAFF = roles(ADMIN, ORGANIZER)
# At the supermarket's counter (catalog/): its clerks, and admins standing in for them.
COUNTER = roles(CLERK, ADMIN)
# At the swap table (亲邻易物台): its staff are the community's clerks and admins (no role of its own).
TABLE_STAFF = roles(CLERK, ADMIN)
# Active members, each of whom has a wallet of their own (a street admin looking in has none).
WALLET_HOLDERS = roles(VOLUNTEER, ORGANIZER, CLERK, ADMIN)

POLICY: dict[str, Rule] = {
    # service
    "health": PUBLIC,
    "describeProblem": PUBLIC,
    # identity
    "login": PUBLIC,
    "logout": SIGNED_IN,
    "whoAmI": SIGNED_IN,
    "changePassword": PERSONAL,
    "createToken": PERSONAL,
    "listTokens": PERSONAL,
    "revokeToken": PERSONAL,
    # platform
    "createCommunity": OPERATOR,
    "listCommunities": SIGNED_IN,  # answers only the communities the caller belongs to (or all, for operators)
    "createRegion": OPERATOR,
    "setCommunityStreet": OPERATOR,
    "grantStreetAdmin": OPERATOR,
    # community structure and people
    "getCommunity": MEMBERS,
    "addUnit": ADMINS,
    "createPlace": ADMINS,
    "listPlaces": MEMBERS,
    "createHousehold": ADMINS,
    "listMembers": roles(ADMIN, ORGANIZER, CLERK, STREET_ADMIN),
    "getMember": roles(ADMIN, ORGANIZER, CLERK, STREET_ADMIN),
    "createMember": ADMINS,
    "updateMember": ADMINS,
    "importMembers": ADMINS,
    "exportMembers": ADMINS,  # phones in full
    "grantRole": ADMINS,
    "revokeRole": ADMINS,
    "readAudit": ADMIN_READ,
    # ledger
    "openAccount": ADMINS,
    "listAccounts": ADMIN_READ,
    "getAccount": ACCOUNT_READ,
    "getBalanceAsOf": ACCOUNT_READ,
    "getAccountHistory": ACCOUNT_READ,
    "postEntry": ADMINS,
    "getEntry": ADMIN_READ,
    "reverseEntry": ADMINS,
    "placeHold": ADMINS,
    "getHold": ADMIN_READ,
    "postHold": ADMINS,
    "voidHold": ADMINS,
    "getTrialBalance": ADMIN_READ,
    "getMyWallet": WALLET_HOLDERS,
    "getMyWalletHistory": WALLET_HOLDERS,
    # earning points (points/earning/): the admin sets up, organizers run activities and award, members take part
    "listActivityTypes": MEMBERS,
    "createActivityType": ADMINS,
    "updateActivityType": ADMINS,
    "listBudgets": roles(ADMIN, ORGANIZER, STREET_ADMIN),
    "allotBudget": ADMINS,
    "getEarningSettings": roles(ADMIN, ORGANIZER, STREET_ADMIN),
    "updateEarningSettings": ADMINS,
    "listActivities": MEMBERS,
    "createActivity": STAFF,
    "getActivity": MEMBERS,
    "updateActivity": STAFF,
    "openActivity": STAFF,
    "cancelActivity": STAFF,
    "listSignups": STAFF,
    "signUp": WALLET_HOLDERS,
    "cancelSignUp": WALLET_HOLDERS,
    "awardActivity": STAFF,
    "listMyActivities": WALLET_HOLDERS,
    "getMyHours": WALLET_HOLDERS,
    "listAwards": roles(ADMIN, ORGANIZER, STREET_ADMIN),
    "getAward": roles(ADMIN, ORGANIZER, STREET_ADMIN),
    "createAward": STAFF,
    "approveAward": STAFF,
    "rejectAward": STAFF,
    "correctAward": ADMINS,  # a reversal, as reverseEntry
    "listMyAwards": WALLET_HOLDERS,
    # attendance (points/earning/web_attendance.py): the organizer shows the code and keeps the list
    "getCheckinCode": STAFF,
    "getCheckinQr": STAFF,
    "checkIn": WALLET_HOLDERS,  # oneself, or 代办 for one's household (the service checks whom)
    "checkOut": WALLET_HOLDERS,
    "listAttendance": STAFF,
    "markAttendance": STAFF,
    "confirmAttendance": STAFF,
    # reports (随手拍) and their photos (points/earning/web_reports.py): any member reports, organizers decide
    "uploadPhoto": WALLET_HOLDERS,
    "getPhoto": MEMBERS,
    "submitReport": WALLET_HOLDERS,
    "listReports": roles(ADMIN, ORGANIZER, STREET_ADMIN),
    "listMyReports": WALLET_HOLDERS,
    "verifyReport": STAFF,
    "rejectReport": STAFF,
    # the points supermarket (catalog/web.py): admins keep the goods, clerks (and admins) work the counter and
    # restock, members see the catalogue and pay with their own payment code
    "listGoods": MEMBERS,
    "getGood": MEMBERS,
    "createGood": ADMINS,
    "updateGood": ADMINS,
    "moveStock": COUNTER,  # restock, write-off, correction: the counter's own chores
    "listStockMovements": COUNTER,
    "listLowStock": COUNTER,
    "issuePaymentCode": WALLET_HOLDERS,  # one's own code; the service refuses a caller without a wallet
    "previewBasket": COUNTER,
    "redeemBasket": COUNTER,
    "listReceipts": roles(CLERK, ADMIN, STREET_ADMIN),
    "getReceipt": roles(CLERK, ADMIN, STREET_ADMIN),
    "returnGoods": COUNTER,
    "listMyReceipts": WALLET_HOLDERS,
    "getMyReceipt": WALLET_HOLDERS,
    "issueMemberCard": ADMINS,
    "getDailyTotals": roles(ADMIN, STREET_ADMIN),
    "getReconciliation": roles(CLERK, ADMIN, STREET_ADMIN),
    # pages (points/pages/web.py): left out of the OpenAPI document, held to this table by tests/test_pages.py
    "pageHome": PUBLIC,  # what this is; a signed-in person's communities
    "pageLogin": PUBLIC,
    "pageLoginSubmit": PUBLIC,
    "pageLogout": SIGNED_IN,
    "pageLanguage": PUBLIC,  # sets the lang cookie only
    "pageStatic": PUBLIC,  # the pages' own CSS and htmx
    "pageMyPoints": WALLET_HOLDERS,
    # the member register: what createMember, updateMember, grantRole, revokeRole and importMembers allow
    "pageMembers": ADMINS,
    "pageMemberAdd": ADMINS,
    "pageMemberStatus": ADMINS,
    "pageMemberGrantRole": ADMINS,
    "pageMemberRevokeRole": ADMINS,
    "pageMembersImport": ADMINS,
    "pageMembersImportSubmit": ADMINS,
    "pagePassword": PERSONAL,  # as changePassword
    "pagePasswordSubmit": PERSONAL,
    # the volunteer's earning pages (points/pages/activities.py): what listActivities, signUp, checkIn, checkOut,
    # listMyActivities, getMyHours, uploadPhoto, submitReport and listMyReports allow
    "pageActivities": MEMBERS,
    "pageActivity": MEMBERS,
    "pageSignUp": WALLET_HOLDERS,
    "pageCancelSignUp": WALLET_HOLDERS,
    "pageCheckinStart": WALLET_HOLDERS,
    "pageCheckinLink": WALLET_HOLDERS,
    "pageCheckIn": WALLET_HOLDERS,
    "pageCheckOut": WALLET_HOLDERS,
    "pageMyActivities": WALLET_HOLDERS,
    "pageReportNew": WALLET_HOLDERS,
    "pageReportSubmit": WALLET_HOLDERS,
    "pageMyReports": WALLET_HOLDERS,
    # the organizer's earning pages (points/pages/organize.py): what the earning, attendance and report writes
    # allow organizers and admins (STAFF); the earning settings (points/pages/earning_settings.py) are the admin's
    "pageOrganize": STAFF,
    "pageActivityNew": STAFF,
    "pageActivityCreate": STAFF,
    "pageActivityManage": STAFF,
    "pageActivityOpen": STAFF,
    "pageActivityCancel": STAFF,
    "pageAttendanceMark": STAFF,
    "pageAttendanceConfirm": STAFF,
    "pageActivityAward": STAFF,
    "pageCheckinCode": STAFF,
    "pageAwardNew": STAFF,
    "pageAwardCreate": STAFF,
    "pageReports": STAFF,
    "pageReportVerify": STAFF,
    "pageReportReject": STAFF,
    "pageApprovals": STAFF,
    "pageAwardApprove": STAFF,
    "pageAwardReject": STAFF,
    "pageEarningSettings": ADMINS,
    "pageActivityTypeUpdate": ADMINS,
    "pageActivityTypeCreate": ADMINS,
    "pageBudgetAllot": ADMINS,
    "pageApprovalThreshold": ADMINS,
    # the volunteer's supermarket pages (points/pages/shop.py): as issuePaymentCode, listGoods (for a wallet holder:
    # limits left are theirs), listMyReceipts and getMyReceipt
    "pagePay": WALLET_HOLDERS,
    "pageShop": WALLET_HOLDERS,
    "pageMyReceipts": WALLET_HOLDERS,
    "pageMyReceipt": WALLET_HOLDERS,
    # the clerk's supermarket pages (points/pages/counter.py): as previewBasket/redeemBasket, getReceipt/listReceipts,
    # returnGoods, listLowStock/moveStock and getReconciliation (the day's totals shown to admins, as getDailyTotals)
    "pageCounter": COUNTER,
    "pageCounterStep": COUNTER,
    "pageReceipt": roles(CLERK, ADMIN, STREET_ADMIN),
    "pageReceipts": roles(CLERK, ADMIN, STREET_ADMIN),
    "pageReceiptReturn": COUNTER,
    "pageStock": COUNTER,
    "pageStockMove": COUNTER,
    "pageCounterToday": roles(CLERK, ADMIN, STREET_ADMIN),
    # points expiry (points/expiry/): the setting as the earning settings; one's own expiries as one's wallet
    "getExpirySettings": roles(ADMIN, ORGANIZER, STREET_ADMIN),
    "updateExpirySettings": ADMINS,
    "getMyExpiries": WALLET_HOLDERS,
    "pageExpirySettings": ADMINS,  # points/pages/expiry_settings.py, as updateExpirySettings
    "pageExpirySettingsSave": ADMINS,
    # the 公示 window (points/publication/): the public list is for anyone (the programme publishes it); any member
    # objects; admins decide and set the window
    "getPublicationSettings": roles(ADMIN, ORGANIZER, STREET_ADMIN),
    "updatePublicationSettings": ADMINS,
    "listPublishedAwards": PUBLIC,
    "objectToAward": WALLET_HOLDERS,
    "listObjections": roles(ADMIN, STREET_ADMIN),
    "upholdObjection": ADMINS,
    "dismissObjection": ADMINS,
    "getMyPublication": WALLET_HOLDERS,
    "pagePublication": PUBLIC,  # points/pages/publication.py, as the API's operations
    "pageObjectToAward": WALLET_HOLDERS,
    "pageObjections": ADMINS,
    "pageUpholdObjection": ADMINS,
    "pageDismissObjection": ADMINS,
    "pagePublicationSettings": ADMINS,
    "pagePublicationSettingsSave": ADMINS,
    # the swap table (catalog/swap_web.py): members list, propose and hand over; table staff (clerks and admins:
    # no role of its own) take items in and confirm hand-overs; admins set the hand-over days and the bonus
    "listSwapListings": MEMBERS,
    "getSwapListing": MEMBERS,
    "createSwapListing": WALLET_HOLDERS,
    "withdrawSwapListing": WALLET_HOLDERS,  # its member's (the service checks); staff use the staff operation
    "intakeSwapListing": TABLE_STAFF,
    "withdrawTableListing": TABLE_STAFF,
    "relistSwapListing": WALLET_HOLDERS,  # its member's expired listing (the service checks)
    "findSwapMembers": TABLE_STAFF,  # whose item is taken in: by name or member number
    "listMySwapProposals": WALLET_HOLDERS,
    "getSwapProposal": MEMBERS,  # its two members (another's answers 404) and table staff
    "proposeSwap": WALLET_HOLDERS,
    "acceptSwapProposal": WALLET_HOLDERS,
    "declineSwapProposal": WALLET_HOLDERS,
    "counterSwapProposal": WALLET_HOLDERS,
    "cancelSwapProposal": WALLET_HOLDERS,
    "confirmSwapHandover": WALLET_HOLDERS,
    "listSwapHandovers": TABLE_STAFF,
    "confirmTableHandover": TABLE_STAFF,
    "listMissedHandovers": roles(CLERK, ADMIN, STREET_ADMIN),
    "getSwapSettings": roles(ADMIN, CLERK, STREET_ADMIN),
    "updateSwapSettings": ADMINS,
    # the swap table's pages (points/pages/swap.py): as the operations each form calls
    "pageSwap": MEMBERS,
    "pageSwapListing": MEMBERS,
    "pageSwapPropose": WALLET_HOLDERS,
    "pageSwapNew": WALLET_HOLDERS,
    "pageSwapCreate": WALLET_HOLDERS,
    "pageSwapMine": WALLET_HOLDERS,
    "pageSwapAccept": WALLET_HOLDERS,
    "pageSwapDecline": WALLET_HOLDERS,
    "pageSwapCancel": WALLET_HOLDERS,
    "pageSwapHandover": WALLET_HOLDERS,
    "pageSwapWithdraw": WALLET_HOLDERS,
    "pageSwapCounterForm": WALLET_HOLDERS,
    "pageSwapCounter": WALLET_HOLDERS,
    "pageSwapTable": TABLE_STAFF,
    "pageSwapIntake": TABLE_STAFF,
    "pageSwapTableHandover": TABLE_STAFF,
    "pageSwapRelist": WALLET_HOLDERS,
    "pageSwapTableWithdraw": TABLE_STAFF,
    "pageSwapMissed": TABLE_STAFF,
    "pageSwapSettings": ADMINS,
    "pageSwapSettingsSave": ADMINS,
    # service orders (points/orders/): residents order, organizers and admins dispatch, the units' members and the
    # volunteers dispatched take them (the service checks who), the resident confirms; 晒单 is public
    "getOrderSettings": roles(ADMIN, ORGANIZER, STREET_ADMIN),
    "updateOrderSettings": ADMINS,
    "listServiceUnits": MEMBERS,
    "getServiceUnit": MEMBERS,
    "createServiceUnit": ADMINS,
    "updateServiceUnit": ADMINS,
    "createServiceOrder": WALLET_HOLDERS,  # for oneself; 代办 for someone else by organizers and admins only
    "listServiceOrders": roles(ADMIN, ORGANIZER, STREET_ADMIN),
    "getServiceOrder": MEMBERS,  # staff, its resident and orderer, its unit's members, its volunteers (else 404)
    "listMyServiceOrders": WALLET_HOLDERS,
    "listTakenServiceOrders": WALLET_HOLDERS,
    "dispatchServiceOrder": STAFF,
    "acceptServiceOrder": WALLET_HOLDERS,  # its unit's members or the volunteers dispatched (the service checks)
    "declineServiceOrder": WALLET_HOLDERS,
    "completeServiceOrder": WALLET_HOLDERS,
    "confirmServiceOrder": WALLET_HOLDERS,  # its resident or who ordered it for them
    "disputeServiceOrder": WALLET_HOLDERS,
    "cancelServiceOrder": WALLET_HOLDERS,  # its resident before it is taken; staff until it is done
    "setServiceOrderPhotoConsent": WALLET_HOLDERS,  # its resident or who ordered it for them
    "listShownServiceOrders": PUBLIC,  # 晒单, names masked
    "getShownServiceOrderPhoto": PUBLIC,  # 晒单's photos, only with the resident's consent
    "pageShaidan": PUBLIC,  # points/orders/pages.py, as listShownServiceOrders
    # the service orders' pages (points/orders/pages.py): each as the API operation its form calls
    "pageServices": WALLET_HOLDERS,  # 我的点单, as listMyServiceOrders
    "pageServiceNew": WALLET_HOLDERS,
    "pageServiceCreate": WALLET_HOLDERS,  # as createServiceOrder (代办 by organizers and admins only)
    "pageServiceOrder": MEMBERS,  # as getServiceOrder: who may not see it gets 404
    "pageServiceConfirm": WALLET_HOLDERS,
    "pageServiceDispute": WALLET_HOLDERS,
    "pageServiceCancel": WALLET_HOLDERS,
    "pageServiceAccept": WALLET_HOLDERS,
    "pageServiceDecline": WALLET_HOLDERS,
    "pageServiceDone": WALLET_HOLDERS,
    "pageServiceDispatch": STAFF,
    "pageServiceConsent": WALLET_HOLDERS,  # as setServiceOrderPhotoConsent: the resident or who ordered for them
    "pageServicesTaken": WALLET_HOLDERS,  # 接单, as listTakenServiceOrders
    "pageServicesDispatch": roles(ADMIN, ORGANIZER, STREET_ADMIN),  # 派单, as listServiceOrders
    "pageServiceUnits": roles(ADMIN, ORGANIZER, STREET_ADMIN),  # the units' records; admins' forms on it
    "pageServiceUnit": roles(ADMIN, ORGANIZER, STREET_ADMIN),
    "pageServiceUnitCreate": ADMINS,  # as createServiceUnit
    "pageServiceUnitUpdate": ADMINS,  # as updateServiceUnit
    "pageServiceSettingsSave": ADMINS,  # as updateOrderSettings
}
