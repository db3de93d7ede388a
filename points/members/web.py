"""HTTP handlers for members, roles, places, households, bulk import and the audit trail."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.params import JSONBody, Parameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from points import audit, csv_out, regions
from points.auth.access import Access
from points.auth.identity import Principal, mask_phone
from points.auth.policy import ADMIN
from points.fields import AfterId, BeforeId, Id, Label, Name, Password, PathId, PathText, Phone, Text
from points.members import importer, service
from points.openapi import CsvBodyOperation, problems
from points.wiring import Conn, CurrentAccess, CurrentCommunity

# Types and limits: points/fields.py. Decoded strictly (points/strict_input.py).


class MemberIn(msgspec.Struct, forbid_unknown_fields=True):
    display_name: Name
    phone: Phone | None = None
    password: Password | None = None
    household: Label | None = None
    place_id: Id | None = None
    roles: list[Text] = msgspec.field(default_factory=lambda: ["volunteer"])


class StatusIn(msgspec.Struct, forbid_unknown_fields=True):
    status: Text


class RoleIn(msgspec.Struct, forbid_unknown_fields=True):
    role: Text
    place_id: Id | None = None


class PlaceIn(msgspec.Struct, forbid_unknown_fields=True):
    level: Text
    name: Name
    parent_id: Id | None = None


class HouseholdIn(msgspec.Struct, forbid_unknown_fields=True):
    label: Annotated[Label, msgspec.Meta(min_length=1)]


class MemberOut(msgspec.Struct):
    id: int
    display_name: str
    phone: str | None  # masked unless the caller is an admin of the community
    household_id: int | None
    place_id: int | None
    status: str
    wallet_account_id: int
    roles: list[str]


class PlaceOut(msgspec.Struct):
    id: int
    level: str
    name: str
    parent_id: int | None


class ImportOut(msgspec.Struct):
    rows: int
    imported: int
    dry_run: bool
    ok: bool
    errors: list[dict[str, Any]]


class AuditOut(msgspec.Struct):
    id: int
    at: datetime
    action: str
    subject: str
    actor_person_id: int | None
    on_behalf_of_member_id: int | None
    detail: msgspec.Raw


def _out(m: service.Member, access: Access) -> MemberOut:
    phone = m.phone if ADMIN in access.roles or m.phone is None else mask_phone(m.phone)
    return MemberOut(
        m.id, m.display_name, phone, m.household_id, m.place_id, m.status, m.wallet_account_id, list(m.roles)
    )


def _person(request: Request[Any, Any, Any]) -> int:
    principal: Principal = request.user
    return principal.person_id


class MembersController(Controller):
    path = "/api/v1/communities/{slug:str}"
    tags = ["members"]  # noqa: RUF012

    @get("/members", operation_id="listMembers", responses=problems(400, 401, 403, 404))
    async def list_members(
        self,
        conn: Conn,
        community: CurrentCommunity,
        access: CurrentAccess,
        after: AfterId = 0,
        limit: Annotated[int, Parameter(ge=1, le=200)] = 50,
        q: Annotated[
            str | None,
            Parameter(max_length=100, description="name contains it, or phone matches it (digits or 138****0001)"),
        ] = None,
    ) -> list[MemberOut]:
        members = await service.list_members(conn, community.id, after_id=after, limit=limit, search=q)
        return [_out(m, access) for m in members]

    @post(
        "/members",
        operation_id="createMember",
        status_code=HTTP_201_CREATED,
        responses=problems(400, 401, 403, 404, 409, 413, 415),
    )
    async def create_member(
        self,
        request: Request[Any, Any, Any],
        conn: Conn,
        community: CurrentCommunity,
        access: CurrentAccess,
        data: JSONBody[MemberIn],
    ) -> MemberOut:
        """Add a member; their points wallet opens with them."""
        member = await service.create_member(
            conn,
            community.id,
            actor_person_id=_person(request),
            display_name=data.display_name,
            phone=data.phone,
            password=data.password,
            household=data.household,
            place_id=data.place_id,
            roles=tuple(data.roles),
        )
        return _out(member, access)

    @get("/members/{member_id:int}", operation_id="getMember", responses=problems(400, 401, 403, 404))
    async def get_member(
        self, conn: Conn, community: CurrentCommunity, access: CurrentAccess, member_id: PathId
    ) -> MemberOut:
        return _out(await service.get_member(conn, community.id, member_id), access)

    @post(
        "/members/{member_id:int}/status",
        operation_id="updateMember",
        status_code=HTTP_200_OK,
        responses=problems(400, 401, 403, 404, 409, 413, 415),
    )
    async def set_status(
        self,
        request: Request[Any, Any, Any],
        conn: Conn,
        community: CurrentCommunity,
        access: CurrentAccess,
        member_id: PathId,
        data: JSONBody[StatusIn],
    ) -> MemberOut:
        """active, suspended or left."""
        member = await service.set_status(conn, community.id, member_id, data.status, actor_person_id=_person(request))
        return _out(member, access)

    @post(
        "/members/{member_id:int}/roles",
        operation_id="grantRole",
        status_code=HTTP_200_OK,
        responses=problems(400, 401, 403, 404, 409, 413, 415),
    )
    async def grant_role(
        self,
        request: Request[Any, Any, Any],
        conn: Conn,
        community: CurrentCommunity,
        access: CurrentAccess,
        member_id: PathId,
        data: JSONBody[RoleIn],
    ) -> MemberOut:
        member = await service.grant_role(
            conn, community.id, member_id, data.role, place_id=data.place_id, actor_person_id=_person(request)
        )
        return _out(member, access)

    @post(
        "/members/{member_id:int}/roles/{role:str}/revoke",
        operation_id="revokeRole",
        status_code=HTTP_200_OK,
        responses=problems(400, 401, 403, 404),
    )
    async def revoke_role(
        self,
        request: Request[Any, Any, Any],
        conn: Conn,
        community: CurrentCommunity,
        access: CurrentAccess,
        member_id: PathId,
        role: PathText,
    ) -> MemberOut:
        member = await service.revoke_role(conn, community.id, member_id, role, actor_person_id=_person(request))
        return _out(member, access)

    @post(
        "/members/import",
        operation_id="importMembers",
        status_code=HTTP_200_OK,
        responses=problems(400, 401, 403, 404, 409, 413, 415),
        operation_class=CsvBodyOperation,
    )
    async def import_members(
        self,
        request: Request[Any, Any, Any],
        conn: Conn,
        community: CurrentCommunity,
        dry_run: Annotated[bool, Parameter(description="only report; import nothing")] = True,
    ) -> ImportOut:
        """Import members from a CSV body (Content-Type: text/csv; UTF-8 or GB18030) with the columns name, phone,
        household and roles. Any bad row means nothing is imported; the report lists every bad row.
        dry_run defaults to true: send dry_run=false to import."""
        report = await importer.import_members(
            conn, community.id, importer.decode(await request.body()), dry_run=dry_run, actor_person_id=_person(request)
        )
        return ImportOut(report.rows, report.imported, report.dry_run, report.ok, report.errors)

    @get(
        "/members/export",
        operation_id="exportMembers",
        media_type=csv_out.MEDIA_TYPE,
        responses=problems(400, 401, 403, 404),
    )
    async def export_members(self, conn: Conn, community: CurrentCommunity) -> Response[bytes]:
        """The member register as CSV (UTF-8 with a BOM, for Excel) with the columns the import reads: name,
        phone, household, roles. Text that a spreadsheet would run as a formula is written with a leading
        apostrophe; the import takes it off again."""
        return Response(
            await importer.export_members(conn, community.id),
            media_type=csv_out.MEDIA_TYPE,
            headers={"Content-Disposition": f'attachment; filename="{community.slug}-members.csv"'},
        )

    @get("/places", operation_id="listPlaces", responses=problems(400, 401, 403, 404))
    async def list_places(self, conn: Conn, community: CurrentCommunity) -> list[PlaceOut]:
        """Compounds, grids and buildings of the community."""
        places = await service.list_places(conn, community.id)
        return [PlaceOut(p.id, p.level, p.name, p.parent_id) for p in places]

    @post(
        "/places",
        operation_id="createPlace",
        status_code=HTTP_201_CREATED,
        responses=problems(400, 401, 403, 404, 409, 413, 415),
    )
    async def create_place(
        self, request: Request[Any, Any, Any], conn: Conn, community: CurrentCommunity, data: JSONBody[PlaceIn]
    ) -> PlaceOut:
        place_id = await service.create_place(
            conn,
            community.id,
            level=data.level,
            name=data.name,
            parent_id=data.parent_id,
            actor_person_id=_person(request),
        )
        return PlaceOut(place_id, data.level, data.name, data.parent_id)

    @post(
        "/households",
        operation_id="createHousehold",
        status_code=HTTP_201_CREATED,
        responses=problems(400, 401, 403, 404, 409, 413, 415),
    )
    async def create_household(
        self, conn: Conn, community: CurrentCommunity, data: JSONBody[HouseholdIn]
    ) -> dict[str, Any]:
        household_id = await service.household_id_for(conn, community.id, data.label)
        return {"id": household_id, "label": data.label}

    @get("/audit", operation_id="readAudit", responses=problems(400, 401, 403, 404))
    async def read_audit(
        self,
        conn: Conn,
        community: CurrentCommunity,
        before: BeforeId = None,
        limit: Annotated[int, Parameter(ge=1, le=200)] = 50,
    ) -> list[AuditOut]:
        """Privileged actions in this community, newest first."""
        lines = await audit.read_audit(conn, community.id, before_id=before, limit=limit)
        return [
            AuditOut(
                a.id,
                a.at,
                a.action,
                a.subject,
                a.actor_person_id,
                a.on_behalf_of_member_id,
                msgspec.Raw(a.detail_json.encode()),
            )
            for a in lines
        ]


class RegionIn(msgspec.Struct, forbid_unknown_fields=True):
    level: Text
    name: Name
    parent_id: Id | None = None


class RegionAdminIn(msgspec.Struct, forbid_unknown_fields=True):
    phone: Annotated[Phone, msgspec.Meta(min_length=6)]


class StreetIn(msgspec.Struct, forbid_unknown_fields=True):
    street_id: Id


class RegionsController(Controller):
    """The tree above communities (市 → 街道), kept by platform operators."""

    path = "/api/v1"
    tags = ["platform"]  # noqa: RUF012

    @post(
        "/regions",
        operation_id="createRegion",
        status_code=HTTP_201_CREATED,
        responses=problems(400, 401, 403, 404, 409, 413, 415),
    )
    async def create_region(
        self, request: Request[Any, Any, Any], conn: Conn, data: JSONBody[RegionIn]
    ) -> dict[str, Any]:
        region_id = await regions.create_region(
            conn, level=data.level, name=data.name, parent_id=data.parent_id, actor_person_id=_person(request)
        )
        return {"id": region_id, "level": data.level, "name": data.name, "parent_id": data.parent_id}

    @post(
        "/regions/{region_id:int}/admins",
        operation_id="grantStreetAdmin",
        status_code=HTTP_200_OK,
        responses=problems(400, 401, 403, 404, 409, 413, 415),
    )
    async def grant_region_admin(
        self, request: Request[Any, Any, Any], conn: Conn, region_id: PathId, data: JSONBody[RegionAdminIn]
    ) -> dict[str, Any]:
        """The person with this phone may read every community under the region (statements, accounts)."""
        person_id = await regions.grant_region_admin(conn, region_id, data.phone, actor_person_id=_person(request))
        return {"region_id": region_id, "person_id": person_id}

    @post(
        "/communities/{slug:str}/street",
        operation_id="setCommunityStreet",
        status_code=HTTP_200_OK,
        responses=problems(400, 401, 403, 404, 409, 413, 415),
    )
    async def set_street(
        self, request: Request[Any, Any, Any], conn: Conn, community: CurrentCommunity, data: JSONBody[StreetIn]
    ) -> dict[str, Any]:
        await regions.set_community_street(conn, community.id, data.street_id, actor_person_id=_person(request))
        return {"community": community.slug, "street_id": data.street_id}


MEMBER_CONTROLLERS = [MembersController, RegionsController]
