"""GET /webchat/agents/: the site's agents for the inbox's "hand over to", and nobody else's business."""

from __future__ import annotations

from typing import Any

from .conftest import Api, identity_token


async def as_agent(api: Api, sub: str, name: str) -> Api:
    r = await api.post("/webchat/identify", {"token": identity_token(sub, name, role="agent")})
    assert r.status == 200, await r.text()
    api.csrf = (await r.json())["csrf_token"]
    return api


async def test_agents_list_the_sites_agents_for_agents_only(api: Api, new_api: Any) -> None:
    bo = await as_agent(api, "bo", "Bo")
    await as_agent(await new_api(), "al", "al (nights)")
    r = await bo.get("/webchat/agents/")
    assert r.status == 200
    agents = (await r.json())["agents"]
    assert [a["display_name"] for a in agents] == ["al (nights)", "Bo"]
    assert {a["kind"] for a in agents} == {"agent"}
    # a visitor, and a signed-in user of the site, do not learn who the staff are
    guest = await new_api()
    user = await new_api()
    r = await user.post("/webchat/identify", {"token": identity_token("u1", "Una")})
    assert r.status == 200
    user.csrf = (await r.json())["csrf_token"]
    for who in (guest, user):
        r = await who.get("/webchat/agents/")
        assert r.status == 404
