"""Teams (departments): named groups of an organisation's members."""

from __future__ import annotations

from typing import Any

from finhub.audit.service import record
from finhub.identity.principal import Principal
from finhub.kit.db.engine import Connection, Row
from finhub.kit.ids import new_id
from finhub.organizations import repository
from finhub.organizations.access import Caller, authorize
from finhub.organizations.errors import MemberNotFound, TeamNameTaken, TeamNotFound
from finhub.organizations.members import find_member
from finhub.organizations.schemas import TeamCreate, TeamUpdate


def _name_taken(name: str) -> TeamNameTaken:
    return TeamNameTaken(f"This organisation has a team named {name!r} already.")


async def list_teams(
    conn: Connection,
    principal: Principal,
    organization_id: str,
    *,
    limit: int,
    starting_after: str | None,
) -> list[Row]:
    await authorize(conn, principal, organization_id, "members:read")
    return await repository.list_teams(
        conn, organization_id, limit=limit, starting_after=starting_after
    )


async def get_team(
    conn: Connection, principal: Principal, organization_id: str, team_id: str
) -> Row:
    await authorize(conn, principal, organization_id, "members:read")
    return await _team(conn, organization_id, team_id)


async def list_team_members(
    conn: Connection,
    principal: Principal,
    organization_id: str,
    team_id: str,
    *,
    limit: int,
    starting_after: str | None,
) -> list[Row]:
    await authorize(conn, principal, organization_id, "members:read")
    await _team(conn, organization_id, team_id)
    return await repository.list_team_members(
        conn, organization_id, team_id, limit=limit, starting_after=starting_after
    )


async def create_team(
    conn: Connection, caller: Caller, organization_id: str, data: TeamCreate
) -> Row:
    await authorize(conn, caller.principal, organization_id, "teams:manage")
    team_id = new_id("team")
    async with repository.unique_or(conn, _name_taken(data.name)):
        await repository.insert_team(
            conn,
            team_id=team_id,
            organization_id=organization_id,
            name=data.name,
            description=data.description,
            now=caller.now,
        )
    team = await _team(conn, organization_id, team_id)
    await _audit(conn, caller, "team.created", team_id, organization_id, after=_audited(team))
    return team


async def update_team(
    conn: Connection, caller: Caller, organization_id: str, team_id: str, data: TeamUpdate
) -> Row:
    await authorize(conn, caller.principal, organization_id, "teams:manage")
    before = await _team(conn, organization_id, team_id)
    changes = {
        field: value
        for field, value in data.model_dump(exclude_unset=True).items()
        if value != before[field]
    }
    if not changes:
        return before
    async with repository.unique_or(conn, _name_taken(changes.get("name", ""))):
        await repository.update_team(conn, organization_id, team_id, changes, caller.now)
    after = await _team(conn, organization_id, team_id)
    await _audit(
        conn,
        caller,
        "team.updated",
        team_id,
        organization_id,
        before={field: before[field] for field in changes},
        after=changes,
    )
    return after


async def delete_team(conn: Connection, caller: Caller, organization_id: str, team_id: str) -> Row:
    await authorize(conn, caller.principal, organization_id, "teams:manage")
    team = await _team(conn, organization_id, team_id)
    await repository.delete_team(conn, organization_id, team_id)
    await _audit(conn, caller, "team.deleted", team_id, organization_id, before=_audited(team))
    return team


async def add_team_member(
    conn: Connection, caller: Caller, organization_id: str, team_id: str, member_id: str
) -> tuple[Row, bool]:
    """Put a member of the organisation in the team; (member, whether they were not in it)."""
    await authorize(conn, caller.principal, organization_id, "teams:manage")
    await _team(conn, organization_id, team_id)
    await find_member(conn, organization_id, member_id)
    added = await repository.add_team_members(
        conn, organization_id, [team_id], member_id, caller.now
    )
    member = await find_member(conn, organization_id, member_id)
    if added:
        await _audit(
            conn,
            caller,
            "team.member_added",
            team_id,
            organization_id,
            after={"member_id": member_id},
            subject_user_id=member["user_id"],
        )
    return member, bool(added)


async def remove_team_member(
    conn: Connection, caller: Caller, organization_id: str, team_id: str, member_id: str
) -> None:
    await authorize(conn, caller.principal, organization_id, "teams:manage")
    await _team(conn, organization_id, team_id)
    member = await find_member(conn, organization_id, member_id)
    if not await repository.remove_team_member(conn, organization_id, team_id, member_id):
        raise MemberNotFound("That member is not in this team.")
    await _audit(
        conn,
        caller,
        "team.member_removed",
        team_id,
        organization_id,
        before={"member_id": member_id},
        subject_user_id=member["user_id"],
    )


async def _team(conn: Connection, organization_id: str, team_id: str) -> Row:
    team = await repository.get_team(conn, organization_id, team_id)
    if team is None:
        raise TeamNotFound("No such team in this organisation.")
    return team


async def _audit(
    conn: Connection,
    caller: Caller,
    action: str,
    team_id: str,
    organization_id: str,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    subject_user_id: str | None = None,
) -> None:
    await record(
        conn,
        caller.audit,
        action,
        subject_user_id=subject_user_id,
        organization_id=organization_id,
        object_type="organization_team",
        object_id=team_id,
        before=before,
        after=after,
    )


def _audited(team: Row) -> dict[str, Any]:
    return {"name": team["name"], "description": team["description"]}
