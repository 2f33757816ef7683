"""The cloud simulator: its Vultr answers obey Vultr's published OpenAPI schemas, it requires
each provider's auth, and the fleet behind it can change while it runs."""

from __future__ import annotations

import copy
import json
import pathlib
import re
from typing import TYPE_CHECKING, Any

import httpx
import jsonschema
import pytest
from referencing import Registry
from referencing.jsonschema import DRAFT7

from nephos.model import InstanceState
from nephos.providers.vultr import VultrProvider
from nephos.sim.clouds import CloudFleet, CloudInstance, CloudSim

if TYPE_CHECKING:
    from tests.provider_support import SkippingClock

pytest_plugins = ("tests.provider_support",)

SPEC_FILE = pathlib.Path(__file__).parent / "data" / "vultr-openapi.json"
LIST_INSTANCES = "/paths/~1instances/get/responses/200/content/application~1json/schema"
BANDWIDTH = (
    "/paths/~1instances~1{instance-id}~1bandwidth/get/responses/200/content/application~1json"
    "/schema"
)
DAY = r"^\d{4}-\d{2}-\d{2}$"


def as_json_schema(node: Any, *, strict: bool) -> Any:
    """OpenAPI 3.0 schema objects as JSON Schema (draft 7).

    ``nullable: true`` becomes a ``null`` alternative of ``type``. With ``strict``, objects
    that list their properties admit no others, so a key that the spec does not declare fails.
    """
    if isinstance(node, list):
        return [as_json_schema(item, strict=strict) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: as_json_schema(value, strict=strict) for key, value in node.items()}
    if out.pop("nullable", False) is True and "type" in out:
        out["type"] = [out["type"], "null"]
    if strict and isinstance(out.get("properties"), dict) and "additionalProperties" not in out:
        names = list(out["properties"])
        if names and all(re.match(DAY, name) for name in names):
            # The bandwidth map's example dates stand for "any day": one schema per day key.
            first = next(iter(out["properties"].values()))
            out = {**out, "properties": {}, "additionalProperties": first}
            out["propertyNames"] = {"pattern": DAY}
        else:
            out["additionalProperties"] = False
    return out


def validator(pointer: str, *, strict: bool = True) -> jsonschema.Draft7Validator:
    spec = as_json_schema(json.loads(SPEC_FILE.read_text()), strict=strict)
    registry: Registry[Any] = Registry().with_resource("urn:vultr", DRAFT7.create_resource(spec))
    return jsonschema.Draft7Validator({"$ref": f"urn:vultr#{pointer}"}, registry=registry)


def example(pointer: str) -> Any:
    spec = json.loads(SPEC_FILE.read_text())
    node: Any = spec
    for part in pointer.strip("/").split("/")[:-1]:  # the media type object, not its schema
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return copy.deepcopy(next(iter(node["examples"].values()))["value"])


async def get(sim: CloudSim, path: str, token: str | None, **params: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(base_url=sim.base_urls["vultr"]) as client:
        return await client.get(path, params=params, headers=headers)


def test_the_spec_validator_accepts_vultrs_examples_and_rejects_a_wrong_type() -> None:
    listing = example(LIST_INSTANCES)
    validator(LIST_INSTANCES, strict=False).validate(listing)
    validator(BANDWIDTH).validate(example(BANDWIDTH))
    listing["instances"][0]["ram"] = "2048"
    with pytest.raises(jsonschema.ValidationError, match="'2048' is not of type 'integer'"):
        validator(LIST_INSTANCES, strict=False).validate(listing)


def test_strict_mode_rejects_keys_the_spec_does_not_declare() -> None:
    # Vultr's own example still uses the older v6_main_ip fields that its 2023 schema dropped.
    errors = list(validator(LIST_INSTANCES).iter_errors(example(LIST_INSTANCES)))
    assert errors and "v6_main_ip" in errors[0].message


def test_nullable_becomes_a_null_alternative() -> None:
    schema = as_json_schema({"type": "string", "nullable": True}, strict=True)
    jsonschema.Draft7Validator(schema).validate(None)


async def test_the_simulators_vultr_pages_match_the_published_schema(
    sim: CloudSim, fleet: CloudFleet
) -> None:
    combos = [
        ("active", "running", "ok"),
        ("pending", "stopped", "none"),
        ("suspended", "stopped", "none"),
        ("resizing", "running", "ok"),
        ("active", "running", "locked"),
        ("active", "running", "installingbooting"),
        ("active", "stopped", "ok"),
    ]
    for n, (status, power, server) in enumerate(combos):
        raw = {"status": status, "power_status": power, "server_status": server}
        fleet.add(
            CloudInstance(
                "vultr", f"id-{n}", f"vm-{n}", "ewr", raw=raw, tags={"web": "", "tier": "1"}
            )
        )
    check = validator(LIST_INSTANCES)
    cursor, pages = "", 0
    while True:
        params: dict[str, Any] = {"per_page": 3, **({"cursor": cursor} if cursor else {})}
        answer = await get(sim, "/v2/instances", sim.vultr_api_key, **params)
        assert answer.status_code == 200
        check.validate(answer.json())
        pages += 1
        cursor = answer.json()["meta"]["links"]["next"]
        if not cursor:
            break
    assert pages == 3


async def test_the_simulators_bandwidth_matches_the_published_schema(
    sim: CloudSim, fleet: CloudFleet
) -> None:
    fleet.add(
        CloudInstance(
            "vultr", "id-0", "vm-0", "ewr", metrics={"bandwidth_in_bytes": lambda at: 1e6}
        )
    )
    answer = await get(sim, "/v2/instances/id-0/bandwidth", sim.vultr_api_key, date_range=3)
    validator(BANDWIDTH).validate(answer.json())
    assert [v["incoming_bytes"] for v in answer.json()["bandwidth"].values()] == [1_000_000] * 3


async def test_each_provider_refuses_a_request_without_its_token(sim: CloudSim) -> None:
    vultr = await get(sim, "/v2/instances", None)
    gcp = await get(sim, "/compute/v1/projects/nephos-sim/aggregated/instances", "wrong")
    azure = await get(sim, f"/subscriptions/{sim.azure_subscription}/providers/x", "wrong")
    assert [r.status_code for r in (vultr, gcp, azure)] == [401, 401, 401]
    assert vultr.json()["error"] == "Invalid API token."
    assert gcp.json()["error"]["status"] == "UNAUTHENTICATED"
    assert azure.json()["error"]["code"] == "InvalidAuthenticationToken"


async def test_fleet_changes_show_on_the_next_poll(
    sim: CloudSim, fleet: CloudFleet, clock: SkippingClock
) -> None:
    fleet.add(CloudInstance("vultr", "a", "web-a", "ewr", public_ip="192.0.2.1"))
    fleet.add(CloudInstance("vultr", "b", "web-b", "ewr", public_ip="192.0.2.2"))
    provider = VultrProvider(
        VultrProvider.validate_options(sim.provider_options()["vultr"]), clock=clock
    )
    before = {i.id: i.state for i in await provider.list_instances()}
    fleet.set_state("vultr", "a", InstanceState.STOPPED)
    fleet.remove("vultr", "b")
    after = {i.id: i.state for i in await provider.list_instances()}
    await provider.close()
    assert before == {"a": InstanceState.RUNNING, "b": InstanceState.RUNNING}
    assert after == {"a": InstanceState.STOPPED}


def test_a_terminated_instance_leaves_every_list() -> None:
    fleet = CloudFleet([CloudInstance("gcp", "1", "vm", "us-east1-b")])
    fleet.set_state("gcp", "1", InstanceState.TERMINATED)
    assert fleet.of("gcp") == []
    with pytest.raises(KeyError):
        fleet.set_state("gcp", "missing", InstanceState.RUNNING)
