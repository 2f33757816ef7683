"""Benchmark: list and normalise 5,000 instances across four providers from local servers.

A child process serves one fleet: the cloud simulator (Vultr, GCP and Azure in their real
response shapes, real page sizes) and, when the AWS provider is installed, the EC2 simulator
(``nephos.sim.ec2``: EC2's XML, 1,000-instance pages) over four regions; ``--moto`` serves
AWS from moto's ThreadedMotoServer instead (one region), as before. This process runs the
real adapters through ``collect_inventory`` exactly as ``nephos inventory`` does, and prints
the time to list and normalise everything. Goal: under 2 s. Servers in another process keep
their JSON and XML encoding off the measured event loop (they still share the machine's
cores).

    .venv/bin/python bench/inventory.py [--instances 5000] [--rounds 5] [--moto | --no-aws]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import platform
import random
import statistics
import time
from collections import Counter
from multiprocessing.connection import Connection
from typing import Any

from nephos.clock import SystemClock
from nephos.model import InstanceState
from nephos.providers import provider_class
from nephos.providers.inventory import collect_inventory
from nephos.sim.clouds import CloudFleet, CloudInstance, CloudSim
from nephos.sim.ec2 import Ec2Sim

HTTP_PROVIDERS = ("vultr", "gcp", "azure")
REGIONS = {
    "aws": ("us-east-1", "eu-west-1b", "us-west-2", "ap-southeast-2c"),
    "vultr": ("ewr", "ams", "sgp", "lax"),
    "gcp": ("us-central1-a", "us-east1-b", "europe-west4-b", "asia-east1-a"),
    "azure": ("westeurope", "eastus", "northeurope", "japaneast"),
}
STATES = [InstanceState.RUNNING] * 17 + [InstanceState.STOPPED, InstanceState.PENDING]
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def aws_available() -> bool:
    try:
        provider_class("aws")
    except Exception:
        return False
    return True


def _instance_id(provider: str, n: int) -> str:
    if provider == "gcp":
        return str(5_000_000_000 + n)
    if provider == "aws":
        return f"i-{n:017x}"
    return f"{provider}-{n:06d}"


def build_fleet(counts: dict[str, int], seed: int, providers: tuple[str, ...]) -> CloudFleet:
    rng = random.Random(seed)
    fleet = CloudFleet()
    sizes = {"gcp": "e2-medium", "aws": "t3.medium"}
    for provider in providers:
        for n in range(counts.get(provider, 0)):
            fleet.add(
                CloudInstance(
                    provider=provider,
                    id=_instance_id(provider, n),
                    name=f"{provider}-node-{n:05d}",
                    region=rng.choice(REGIONS[provider]),
                    state=rng.choice(STATES),
                    size=sizes.get(provider, "standard-2"),
                    public_ip=f"198.51.{n // 250}.{n % 250 + 1}",
                    private_ip=f"10.{n // 65536}.{n // 256 % 256}.{n % 256}",
                    vcpus=2,
                    memory_mb=4096,
                    tags={"team": rng.choice(["web", "data", "ops"]), "env": "bench"},
                )
            )
    return fleet


def seed_ec2(endpoint: str, count: int) -> None:
    import boto3

    ec2 = boto3.client("ec2", region_name="us-east-1", endpoint_url=endpoint)
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    made = 0
    while made < count:
        batch = min(250, count - made)
        ec2.run_instances(ImageId=image, MinCount=batch, MaxCount=batch, InstanceType="t3.small")
        made += batch


def serve(conn: Connection, counts: dict[str, int], seed: int, moto: bool) -> None:
    """The child process: serve the fleet until the parent says stop."""
    import logging

    os.environ.update(AWS_ENV)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's per-request log lines
    asyncio.run(_serve(conn, counts, seed, moto))


async def _serve(conn: Connection, counts: dict[str, int], seed: int, moto: bool) -> None:
    moto_server = None
    simulated = HTTP_PROVIDERS if moto else ("aws", *HTTP_PROVIDERS)
    fleet = build_fleet(counts, seed, simulated)
    async with CloudSim(fleet) as sim, Ec2Sim(fleet) as ec2_sim:
        options: dict[str, dict[str, Any]] = dict(sim.provider_options())
        if counts.get("aws") and not moto:
            options["aws"] = ec2_sim.provider_options()
        elif counts.get("aws"):
            from moto.server import ThreadedMotoServer

            moto_server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
            moto_server.start()
            host, port = moto_server.get_host_and_port()
            endpoint = f"http://{host}:{port}"
            seed_ec2(endpoint, counts["aws"])
            options["aws"] = {"regions": ["us-east-1"], "endpoint_url": endpoint}
        conn.send(options)
        await asyncio.get_running_loop().run_in_executor(None, conn.recv)
    if moto_server is not None:
        moto_server.stop()


async def measure(options: dict[str, dict[str, Any]], rounds: int) -> None:
    clock = SystemClock()
    providers = []
    for name in sorted(options, key=lambda n: (n != "aws", n)):
        raw = options[name]
        cls = provider_class(name)
        providers.append(cls(cls.validate_options(raw), clock=clock))
    try:
        times = []
        for round_ in range(rounds):
            start = time.perf_counter()
            inventory = await collect_inventory(providers, clock=clock, timeout=120)
            times.append(time.perf_counter() - start)
            if round_ == 0:
                for status in inventory.statuses:
                    note = "" if status.available else f"  UNAVAILABLE: {status.reason}"
                    print(f"  {status.provider:<6} {status.instances:>5} instances{note}")
                states = Counter(i.state.value for i in inventory.instances)
                print(f"  total  {len(inventory.instances):>5} instances; states {dict(states)}")
        alone = {}
        for provider in providers:
            start = time.perf_counter()
            await provider.list_instances()
            alone[provider.name] = time.perf_counter() - start
    finally:
        for provider in providers:
            await provider.close()
    print(f"  rounds (s): {', '.join(f'{t:.3f}' for t in times)}")
    first, rest = times[0], times[1:] or times
    print(f"  first round (new connections): {first:.3f} s")
    print(f"  warm rounds: median {statistics.median(rest):.3f} s, best {min(rest):.3f} s")
    print("  each provider alone (warm): " + ", ".join(f"{k} {v:.3f} s" for k, v in alone.items()))
    verdict = "met" if statistics.median(rest) < 2.0 else "NOT met"
    print(f"  goal (< 2 s for all of them): {verdict}")
    if "aws" in options:
        await asyncio.to_thread(aws_split, options["aws"])


def aws_split(options: dict[str, Any]) -> None:
    """Where AWS's time goes: the server answering DescribeInstances through boto3, and
    nephos normalising."""
    import boto3

    from nephos.providers.aws import normalise_instance

    start = time.perf_counter()
    items = []
    for region in options["regions"]:
        ec2 = boto3.client("ec2", region_name=region, endpoint_url=options["endpoint_url"])
        items += [
            item
            for page in ec2.get_paginator("describe_instances").paginate()
            for reservation in page["Reservations"]
            for item in reservation["Instances"]
        ]
    fetched = time.perf_counter() - start
    now = SystemClock().now()
    start = time.perf_counter()
    for item in items:
        normalise_instance(
            item, region="us-east-1", account=None, signal="ok", type_info=(2, 2048), now=now
        )
    normalised = time.perf_counter() - start
    print(
        f"  aws split: DescribeInstances through plain boto3 {fetched:.3f} s; "
        f"normalising its {len(items)} instances {normalised:.3f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--instances", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--no-aws", action="store_true", help="the three HTTP providers only")
    parser.add_argument(
        "--moto", action="store_true", help="serve AWS from moto's server, not nephos.sim.ec2"
    )
    args = parser.parse_args()
    os.environ.update(AWS_ENV)
    with_aws = aws_available() and not args.no_aws
    names = (("aws",) if with_aws else ()) + HTTP_PROVIDERS
    share, extra = divmod(args.instances, len(names))
    counts = {name: share + (1 if i < extra else 0) for i, name in enumerate(names)}
    print(f"nephos inventory benchmark: {args.instances} instances, {counts}")
    if not with_aws:
        why = "left out (--no-aws)" if args.no_aws else "not installed"
        print(f"  (the AWS provider is {why}: three HTTP providers only)")
    else:
        print(f"  AWS served by {'moto' if args.moto else 'nephos.sim.ec2'}")
    print(f"  python {platform.python_version()}, {os.cpu_count()} CPUs, {platform.platform()}")
    parent, child = multiprocessing.Pipe()
    server = multiprocessing.get_context("spawn").Process(
        target=serve, args=(child, counts, args.seed, args.moto), daemon=True
    )
    started = time.perf_counter()
    server.start()
    options = parent.recv()
    print(f"  servers up and seeded in {time.perf_counter() - started:.1f} s (not measured)")
    try:
        asyncio.run(measure(options, args.rounds))
    finally:
        parent.send("stop")
        server.join(timeout=10)


if __name__ == "__main__":
    main()
