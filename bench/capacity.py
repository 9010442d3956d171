"""Routeway's capacity model (docs/SCALE.md) as code: store operations per route, the limits that bind, the cost.

Run on its own: `PYTHONPATH=. .venv/bin/python -m bench.capacity` (options: --help). It prints, for a workload
(requests per second per key, number of keys, a mix of routes, the mean upstream latency), every route's store
operations, the ceiling per key and per deployment today, after issue 17's reservations and with hot-key shards
as built (adapters/aws_shards.py), the cost per million requests, and a second-by-second replay of the
workload against per-item DynamoDB limits that shows where throttling starts.

`operations_of` is what tests/functional/test_scale_multiprocess.py checks against the operations a moto
server counts for three real gateways, so this table and the code cannot drift apart unnoticed.
"""

from __future__ import annotations

import argparse
import math
import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field

# Prices: us-east-1, on-demand, first pricing tier, as read on 2026-11-30 (sources in docs/SCALE.md).
PRICE_LAMBDA_GB_S_ARM = 0.0000133334  # USD per GB-second, arm64 (the template's Architectures: [arm64])
PRICE_LAMBDA_REQUEST = 0.20 / 1e6
PRICE_HTTP_API_REQUEST = 1.00 / 1e6  # API Gateway HTTP API, first 300 million a month (per 512 KB)
PRICE_WRU = 0.625 / 1e6  # DynamoDB on-demand write request unit
PRICE_RRU = 0.125 / 1e6  # DynamoDB on-demand read request unit
PRICE_S3_GET = 0.0004 / 1000
LAMBDA_MEMORY_GB = 1.0  # template.yaml Globals.Function.MemorySize: 1024

# Limits (docs/SCALE.md "The limits that bind").
PARTITION_WRU_S = 1000.0  # one partition (so one item): 1,000 WRU/s or 3,000 RRU/s, or a linear combination
PARTITION_RRU_S = 3000.0
TABLE_WRU_S = 40000.0  # default per-table on-demand quota (raisable)
TABLE_RRU_S = 40000.0
NEW_TABLE_WRU_S = 4000.0  # a new on-demand table at once; then up to double the previous peak per 30 min
LAMBDA_CONCURRENCY = 1000  # default per account and Region, shared by every function (raisable)
LAMBDA_SCALE_PER_10S = 1000  # new execution environments per function every 10 s
HTTP_API_RPS = 10000.0  # per account and Region, all APIs (raisable)

# Item sizes the write and read units follow (checked against the moto run's items by the test).
GENERATION_RECORD_BYTES = 1024  # a generation record, deflated (issue 35): at most 1 KB -> 1 WRU
TEXT_RECORD_BYTES = 2048  # before issue 35 the record was JSON text: 1,054-1,059 bytes measured -> 2 WRU
KEY_ITEM_BYTES = 1024  # a key's item (record JSON, spend): at most 1 KB -> 1 WRU per update, 1 RRU per read
MARKER_BYTES = 100  # charge#<generation>: keys only


def item_bytes(item: dict[str, dict[str, object]]) -> int:
    """An item's size as DynamoDB bills it, from its wire form: names plus values (a number counted at one
    byte per digit, an upper bound of DynamoDB's packed form; a map or list 3 bytes plus 1 per element)."""
    return sum(len(name.encode()) + _value_bytes(typed) for name, typed in item.items())


def _value_bytes(typed: dict[str, object]) -> int:
    size = 0
    for kind, value in typed.items():
        if kind == "B":
            size += len(value) if isinstance(value, bytes) else len(str(value)) * 3 // 4
        elif kind == "M" and isinstance(value, dict):
            size += 3 + sum(len(str(n).encode()) + _value_bytes(v) + 1 for n, v in value.items())
        elif kind == "L" and isinstance(value, list):
            size += 3 + sum(_value_bytes(v) + 1 for v in value)
        else:
            size += len(str(value).encode())
    return size


def wru(size_bytes: float) -> float:
    return float(math.ceil(size_bytes / 1024))


def rru(size_bytes: float) -> float:
    return float(math.ceil(size_bytes / 4096))


@dataclass(frozen=True)
class Op:
    """One AWS call, as moto's recorder names it, and the units it costs on each item it touches."""

    call: str
    touches: tuple[tuple[str, float, float], ...]  # (item, read units, write units)
    when: str = "always"  # "always", "rpm" (the key has an rpm limit), "budget" / "no_budget" (it has one / not)


def _one(call: str, item: str, *, read: float = 0.0, write: float = 0.0, when: str = "always") -> Op:
    return Op(call, ((item, read, write),), when)


AUTHENTICATE = _one("GetItem", "key", read=rru(KEY_ITEM_BYTES))  # consistent read of the key's item
COUNT_REQUEST = _one("UpdateItem", "rate", write=1.0, when="rpm")  # ADD count on rate#<hash>/<minute>
RECORD = _one("PutItem", "gen", write=wru(TEXT_RECORD_BYTES))  # gen#<id>, its own partition
DEFLATED_RECORD = _one("PutItem", "gen", write=wru(GENERATION_RECORD_BYTES))  # issue 35
ADD_SPEND = _one("UpdateItem", "key", write=wru(KEY_ITEM_BYTES))  # ADD spend_usd on the key's item
HOLD_BYTES = 150  # hold#<hash>/<generation>: the amount and when it lapses
# the upstream answered: its id noted on the hold before the answer goes on (services/ledger.py note)
NOTE = _one("UpdateItem", "hold", write=wru(HOLD_BYTES + 100), when="budget")
# issue 17 (adapters/aws_budget.py): a key with a budget holds before each call in one transaction (put the
# hold, add to committed_usd on a condition); the charge is a transaction (the charge#<gen> marker if absent,
# the key's spend, and the hold's release when there is one); the record is its own PutItem beside it.
# A transaction costs twice the write units of each item it touches.
RESERVE = Op(
    "TransactWriteItems",
    (("hold", 0.0, 2 * wru(HOLD_BYTES)), ("key", 0.0, 2 * wru(KEY_ITEM_BYTES))),
    when="budget",
)
ROLLUP_BYTES = 200  # spend#<key name>/<day>#<model>#<team>: the spend report's line (issue 31), in each settle
SETTLE = Op(
    "TransactWriteItems",
    (
        ("charge", 0.0, 2 * wru(MARKER_BYTES)),
        ("key", 0.0, 2 * wru(KEY_ITEM_BYTES)),
        ("spend", 0.0, 2 * wru(ROLLUP_BYTES)),
    ),
    when="no_budget",
)
SETTLE_HELD = Op(
    "TransactWriteItems",
    (
        ("charge", 0.0, 2 * wru(MARKER_BYTES)),
        ("hold", 0.0, 2 * wru(HOLD_BYTES)),
        ("key", 0.0, 2 * wru(KEY_ITEM_BYTES)),
        ("spend", 0.0, 2 * wru(ROLLUP_BYTES)),
    ),
    when="budget",
)


# issue 35 (as built): a held settle needs no charge marker (the hold's conditional Delete makes it happen once;
# a hold released as expired leaves a released# marker for a late settle), and the record is deflated under 1 KB.
SETTLE_HELD_OWN = Op(
    "TransactWriteItems",
    (("hold", 0.0, 2 * wru(HOLD_BYTES)), ("key", 0.0, 2 * wru(KEY_ITEM_BYTES)), ("spend", 0.0, 2 * wru(ROLLUP_BYTES))),
    when="budget",
)
# issue 35, holds in the key item (adapters/aws_key_holds.py): an unsharded key's hold, note and settle are one
# conditional UpdateItem of its key item each; the rpm count rides in the hold's UpdateItem and the spend line in
# the settle's (aws_rollups.py). Each is 1 WRU while the key item stays under 1 KB (SCALE.md section 0 measures
# it with holds in flight). A key without a budget still counts rpm on rate# and settles in a transaction.
RESERVE_IN_ITEM = _one("UpdateItem", "key", write=wru(KEY_ITEM_BYTES), when="budget")
NOTE_IN_ITEM = _one("UpdateItem", "key", write=wru(KEY_ITEM_BYTES), when="budget")
SETTLE_IN_ITEM = _one("UpdateItem", "key", write=wru(KEY_ITEM_BYTES), when="budget")
COUNT_UNHELD = _one("UpdateItem", "rate", write=1.0, when="rpm_no_budget")
PHASES = ("today", "reservations", "partitions", "item_holds")  # before 17; 17 and 31; 35 first cut; 35 as built


def _completion(phase: str, calls: int = 1) -> list[Op]:
    """Authenticate once, then per upstream call: admit (rpm), [reserve, note], record, charge."""
    per_call = {
        "today": [COUNT_REQUEST, RECORD, ADD_SPEND],
        "reservations": [COUNT_REQUEST, RESERVE, NOTE, RECORD, SETTLE, SETTLE_HELD],
        "partitions": [COUNT_REQUEST, RESERVE, NOTE, DEFLATED_RECORD, SETTLE, SETTLE_HELD_OWN],
        "item_holds": [COUNT_UNHELD, RESERVE_IN_ITEM, NOTE_IN_ITEM, DEFLATED_RECORD, SETTLE, SETTLE_IN_ITEM],
    }[phase]
    return [AUTHENTICATE, *per_call * calls]


def route_ops(route: str, phase: str = "today", *, response_bytes: int = 8192, images: int = 1) -> list[Op]:
    """Every store call one request on `route` makes (the catalog's reads are per process: SCALE.md, section 1)."""
    if phase not in PHASES:
        raise ValueError(f"unknown phase {phase!r}")
    completion = ("chat", "chat_stream", "completions", "messages", "messages_stream", "embeddings")
    if route in completion:
        return _completion(phase)
    if route == "images":  # n chat calls behind one request, one key lookup
        return _completion(phase, calls=images)
    if route in ("responses_store", "responses_store_stream"):
        return [*_completion(phase), _one("PutItem", "resp", write=wru(response_bytes))]
    if route == "responses_continue":  # previous_response_id read first, the new turn stored after
        read_previous = _one("GetItem", "resp", read=rru(response_bytes))
        return [
            AUTHENTICATE,
            read_previous,
            *_completion(phase)[1:],
            _one("PutItem", "resp", write=wru(response_bytes)),
        ]
    if route == "explain":
        return [AUTHENTICATE, _one("GetItem", "gen", read=rru(TEXT_RECORD_BYTES))]
    if route in ("preview", "models", "key", "info", "count_tokens"):
        return [AUTHENTICATE]
    if route == "healthz":
        return []
    raise ValueError(f"unknown route {route!r}")


ROUTES = (
    "chat", "chat_stream", "completions", "messages", "messages_stream", "embeddings", "images",
    "responses_store", "responses_store_stream", "responses_continue", "preview", "explain", "models", "key",
    "info", "count_tokens", "healthz",
)  # fmt: skip


def _applies(op: Op, *, rpm: bool, budget: bool) -> bool:
    return (
        op.when == "always"
        or (op.when == "rpm" and rpm)
        or (op.when == "budget" and budget)
        or (op.when == "no_budget" and not budget)
        or (op.when == "rpm_no_budget" and rpm and not budget)
    )


def operations_of(route: str, *, rpm: bool, budget: bool, phase: str = "today") -> Counter[str]:
    """The AWS calls one request makes, by name, as a moto server's request log counts them."""
    return Counter(op.call for op in route_ops(route, phase) if _applies(op, rpm=rpm, budget=budget))


def units_by_item(route: str, *, rpm: bool, budget: bool, phase: str = "today") -> dict[str, tuple[float, float]]:
    """(read units, write units) one request puts on each item it touches."""
    totals: dict[str, tuple[float, float]] = {}
    for op in route_ops(route, phase):
        if _applies(op, rpm=rpm, budget=budget):
            for item, read, write in op.touches:
                r, w = totals.get(item, (0.0, 0.0))
                totals[item] = (r + read, w + write)
    return totals


@dataclass
class Workload:
    rps_per_key: float = 100.0
    keys: int = 50
    mix: dict[str, float] = field(default_factory=lambda: {"chat": 0.5, "chat_stream": 0.35, "embeddings": 0.1,
                                                            "responses_store": 0.05})  # fmt: skip
    latency_s: float = 3.0  # mean Lambda duration per request (the upstream's time dominates)
    rpm: bool = True
    budget: bool = True
    shards: int = 1  # budget/rpm shards of the hot key (1: no sharding)
    slice_requests: int = 100  # requests a claimed budget slice covers before its shard refills
    quota_admissions: int = 100  # rpm admissions a shard claims from the minute's window item at a time
    concurrency: int = LAMBDA_CONCURRENCY

    def per_request(self, phase: str) -> dict[str, tuple[float, float]]:
        """Mean (read, write) units per request on each item, over the mix. With shards (as built:
        adapters/aws_shards.py), the key item's per-request load moves to one of K "shard" items, which also
        takes the rpm count (its own conditional UpdateItem); the key item sees only refills (a transaction per
        `slice_requests`, after the shard's failed one), the window item only quota claims (a transaction per
        `quota_admissions`)."""
        totals: dict[str, tuple[float, float]] = {}
        for route, share in self.mix.items():
            for item, (read, write) in units_by_item(route, rpm=self.rpm, budget=self.budget, phase=phase).items():
                r, w = totals.get(item, (0.0, 0.0))
                totals[item] = (r + share * read, w + share * write)
        if self.shards > 1:
            read, write = totals.pop("key", (0.0, 0.0))
            _, rate = totals.pop("rate", (0.0, 0.0))
            side = 2 * wru(KEY_ITEM_BYTES)  # one item's part of a transaction
            refill = side / self.slice_requests if self.budget else 0.0
            claim = side / self.quota_admissions if self.rpm else 0.0
            hold_r, hold_w = totals.get("hold", (0.0, 0.0))
            totals["hold"] = (hold_r, hold_w + 2 * 2 * wru(HOLD_BYTES) / self.slice_requests if self.budget else hold_w)
            # the shard: the key's read and writes, the rpm count, the failed hold and the refill's third, claims
            totals["shard"] = (read, write + rate + 2 * refill + claim)
            totals["key"] = (0.0, refill)
            if self.rpm:
                totals["rate"] = (0.0, claim)
        return totals

    def calls_per_request(self, phase: str) -> dict[str, float]:
        """Mean AWS calls per request over the mix: a sharded key makes the same calls as an unsharded one (a
        shard read instead of the key item's, its rpm count, hold, record, settle), plus a refill's and a quota
        claim's transactions now and then."""
        calls: defaultdict[str, float] = defaultdict(float)
        for route, share in self.mix.items():
            for name, count in operations_of(route, rpm=self.rpm, budget=self.budget, phase=phase).items():
                calls[name] += share * count
        if self.shards > 1:
            calls["TransactWriteItems"] += (2 / self.slice_requests if self.budget else 0.0) + (
                1 / self.quota_admissions if self.rpm else 0.0
            )
            if self.rpm:  # a first admission of each minute fails before its claim
                calls["UpdateItem"] += 1 / self.quota_admissions
        return dict(calls)


def _item_ceiling(read: float, write: float) -> float:
    """Requests per second one item takes when each request costs it `read` RRU and `write` WRU."""
    load = read / PARTITION_RRU_S + write / PARTITION_WRU_S
    return math.inf if load == 0 else 1.0 / load


SHARDS_SHOWN = 8
TRANSIENT = "(transient) "  # a limit DynamoDB lifts by itself within minutes (split for heat, on-demand growth)
HOT_ITEMS = ("key", "rate")  # the per-key items; gen#, resp#, charge# items each have their own partition


def key_ceiling(workload: Workload, phase: str) -> tuple[float, str]:
    """The largest sustained rate of one key, and the item that sets it."""
    units = workload.per_request(phase)
    ceilings = {item: _item_ceiling(*units[item]) for item in HOT_ITEMS if item in units}
    if "shard" in units:
        ceilings[f"{workload.shards} shard items"] = _item_ceiling(*units["shard"]) * workload.shards
    item = min(ceilings, key=lambda name: ceilings[name])
    return ceilings[item], item


def deployment_ceiling(workload: Workload, phase: str, concurrency: int = LAMBDA_CONCURRENCY) -> dict[str, float]:
    """Requests per second each deployment-wide limit allows for this mix (the smallest one binds).

    Before issue 35 every key's item had pk "key", so all keys formed one item collection: until DynamoDB split
    it by sort key (split for heat), all keys together shared one partition. Issue 35's layout (pk key#<hash>)
    and the shards remove that bound, so it is counted only before it and when `shards` is 1."""
    units = workload.per_request(phase)
    read = sum(r for r, _ in units.values())
    write = sum(w for _, w in units.values())
    via_api = sum(share for route, share in workload.mix.items() if not route.endswith("_stream"))
    shared_partition = {f"{TRANSIENT}all key items in pk 'key' until split for heat": _item_ceiling(*units["key"])}
    return {
        **(shared_partition if workload.shards == 1 and phase in ("today", "reservations") else {}),
        "lambda concurrency": concurrency / workload.latency_s,
        "http api (non-streamed share)": HTTP_API_RPS / via_api if via_api else math.inf,
        "dynamodb table quota": min(TABLE_WRU_S / write, TABLE_RRU_S / read if read else math.inf),
        f"{TRANSIENT}new on-demand table": 1.0 / (write / NEW_TABLE_WRU_S + read / (3 * NEW_TABLE_WRU_S)),
    }


def cost_per_million(workload: Workload, phase: str, cold_start_share: float = 0.001) -> dict[str, float]:
    """USD per million requests by line item (on-demand prices, no free tier)."""
    units = workload.per_request(phase)
    read = sum(r for r, _ in units.values())
    write = sum(w for _, w in units.values())
    via_api = sum(share for route, share in workload.mix.items() if not route.endswith("_stream"))
    return {
        "lambda duration": 1e6 * workload.latency_s * LAMBDA_MEMORY_GB * PRICE_LAMBDA_GB_S_ARM,
        "lambda requests": 1e6 * PRICE_LAMBDA_REQUEST,
        "http api": 1e6 * via_api * PRICE_HTTP_API_REQUEST,
        "dynamodb writes": 1e6 * write * PRICE_WRU,
        "dynamodb reads": 1e6 * read * PRICE_RRU,
        "s3 (snapshot per cold start)": 1e6 * cold_start_share * PRICE_S3_GET,
    }


def replay(workload: Workload, phase: str, seconds: int = 60, seed: int = 22) -> dict[str, float]:
    """Second by second, Poisson arrivals on one key, each sent to a shard at random; every item's load is
    checked against its partition's capacity. Returns the share of requests that would be throttled and the
    peak utilisation of the hottest item (random shard choice is uneven, which the bound above ignores)."""
    rng = random.Random(seed)
    units = workload.per_request(phase)
    shards = max(1, workload.shards)
    throttled = total = 0
    peak = 0.0
    for _ in range(seconds):
        arrivals = _poisson(rng, workload.rps_per_key)
        total += arrivals
        per_shard = Counter(rng.randrange(shards) for _ in range(arrivals)) if "shard" in units else Counter()
        loads = [_load(units[item], arrivals) for item in HOT_ITEMS if item in units]
        loads += [_load(units["shard"], count) for count in per_shard.values()]
        worst = max(loads, default=0.0)
        peak = max(peak, worst)
        if worst > 1.0:
            throttled += arrivals - int(arrivals / worst)
    return {"throttled_share": throttled / total if total else 0.0, "peak_item_utilisation": peak}


def _load(units: tuple[float, float], requests: int) -> float:
    """The share of one partition's capacity `requests` requests use in a second."""
    read, write = units
    return requests * (read / PARTITION_RRU_S + write / PARTITION_WRU_S)


def _poisson(rng: random.Random, mean: float) -> int:
    if mean > 50:  # normal approximation, bounded below by zero
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit and count < 10_000:
        count += 1
        product *= rng.random()
    return count


def _mix(text: str) -> dict[str, float]:
    pairs = [part.split("=", 1) for part in text.split(",") if part.strip()]
    mix = {name.strip(): float(share) for name, share in pairs}
    unknown = set(mix) - set(ROUTES)
    if unknown:
        raise SystemExit(f"unknown routes in --mix: {', '.join(sorted(unknown))} (known: {', '.join(ROUTES)})")
    total = sum(mix.values())
    return {name: share / total for name, share in mix.items()}


def _key_lines(workload: Workload, phase: str, label: str) -> list[str]:
    ceiling, item = key_ceiling(workload, phase)
    at_95 = replay(Workload(**{**workload.__dict__, "rps_per_key": ceiling * 0.95}), phase)
    at_120 = replay(Workload(**{**workload.__dict__, "rps_per_key": ceiling * 1.2}), phase)
    return [
        f"  [{label}] one key: {ceiling:,.0f} req/s (bound by {item}); replayed at 95% of it: "
        f"{at_95['throttled_share']:.1%} throttled, at 120%: {at_120['throttled_share']:.1%} throttled"
    ]


def _deployment_lines(workload: Workload, phase: str, label: str) -> list[str]:
    lines = []
    for concurrency in (workload.concurrency, 10 * workload.concurrency):
        limits = deployment_ceiling(workload, phase, concurrency)
        binding = min((name for name in limits if not name.startswith(TRANSIENT)), key=lambda name: limits[name])
        shown = ", ".join(f"{name} {value:,.0f}" for name, value in limits.items())
        lines.append(
            f"  [{label}, Lambda concurrency {concurrency:,}] deployment: {shown} req/s "
            f"-> {limits[binding]:,.0f} ({binding})"
        )
    return lines


def report(workload: Workload) -> str:
    lines = ["Store operations per request (before issue 17 -> issues 17/31 -> 35 first cut -> 35), rpm and budget:"]
    for route in ROUTES:
        phases = [dict(operations_of(route, rpm=True, budget=True, phase=phase)) for phase in PHASES]
        lines.append(f"  {route:24} " + " -> ".join(map(str, phases)))
    lines.append(f"\nWorkload: {workload.rps_per_key:g} req/s per key, {workload.keys} keys, mix {workload.mix}")
    sharded = Workload(**{**workload.__dict__, "shards": SHARDS_SHOWN})
    for phase, shaped, label in (
        ("today", workload, "today"),
        ("reservations", workload, "issue 17"),
        ("reservations", sharded, f"issue 17 + {SHARDS_SHOWN} shards"),
        ("partitions", workload, "issue 35, first cut (hold items)"),
        ("item_holds", workload, "issue 35 (as built: holds in the key item)"),
        ("partitions", sharded, f"issue 35 + {SHARDS_SHOWN} shards (as built: shards keep hold items)"),
    ):
        lines += _key_lines(shaped, phase, label) + _deployment_lines(shaped, phase, label)
        costs = cost_per_million(shaped, phase)
        items = ", ".join(f"{name} ${value:,.2f}" for name, value in costs.items())
        lines.append(f"  [{label}] per million requests: ${sum(costs.values()):,.2f} ({items})")
        calls = ", ".join(f"{name} {count:.3f}" for name, count in sorted(shaped.calls_per_request(phase).items()))
        units = shaped.per_request(phase)
        lines.append(
            f"  [{label}] calls per request: {calls}; units per request: "
            f"{sum(r for r, _ in units.values()):.2f} RRU, {sum(w for _, w in units.values()):.2f} WRU"
        )
    for shards in (2, 8, 20, 50):
        for rpm in (True, False):
            shaped = Workload(**{**workload.__dict__, "shards": shards, "rpm": rpm})
            ceiling, item = key_ceiling(shaped, "partitions")
            replayed = replay(Workload(**{**shaped.__dict__, "rps_per_key": ceiling * 0.8}), "partitions")
            lines.append(
                f"  [K={shards:>2}, {'rpm+budget' if rpm else 'budget only'}] one key: {ceiling:,.0f} req/s "
                f"(bound by {item}); replayed at 80%: {replayed['throttled_share']:.1%} throttled"
            )
    demand = workload.rps_per_key * workload.keys
    lines.append(f"  demand: {demand:,.0f} req/s in all; Lambda concurrency needed {demand * workload.latency_s:,.0f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rps-per-key", type=float, default=100.0)
    parser.add_argument("--keys", type=int, default=50)
    parser.add_argument("--mix", type=_mix, default=None, help="route=share,...; e.g. chat=0.6,chat_stream=0.4")
    parser.add_argument("--latency-s", type=float, default=3.0, help="mean request duration in Lambda")
    parser.add_argument("--concurrency", type=int, default=LAMBDA_CONCURRENCY, help="the account's Lambda quota")
    args = parser.parse_args(argv)
    workload = Workload(
        rps_per_key=args.rps_per_key, keys=args.keys, latency_s=args.latency_s, concurrency=args.concurrency
    )
    if args.mix:
        workload.mix = args.mix
    print(report(workload))


if __name__ == "__main__":
    main()
