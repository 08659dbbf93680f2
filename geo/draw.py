"""Auditable expert draw for the standardized-construction-site evaluation (SPEC ST-16).

For every recommended project the draw picks ``Rules.per_project`` (normally two) experts
by the configured rules: right group (and specialty, when ``match_specialty``), available,
not employed by an enterprise involved in the project (conflict of interest), never an
expert already assigned to the project in an earlier draw, and at most
``Rules.max_per_expert`` projects per expert in this round. Pure Python, no database;
sending the dynamic passwords by SMS is the caller's business.

Scheme (commit-reveal)
----------------------
1. ``prepare(projects, experts, rules)`` builds the *canonical inputs*: a JSON document with
   sorted keys, items sorted by id, sets sorted, no insignificant whitespace, UTF-8.
   ``inputs_sha256`` is the SHA-256 of that text. A 32-byte seed is taken from
   ``secrets.token_bytes`` (a cryptographic source) unless one is given, and
   ``commitment = SHA-256(seed || bytes.fromhex(inputs_sha256))`` (hex).
2. The caller records ``inputs``, ``inputs_sha256`` and ``commitment`` (``Prepared.record()``)
   *before* calling ``run``. The seed stays secret until then, so nobody can predict the
   result from the record, and once the commitment is recorded the seed cannot be changed.
3. ``run(prepared)`` performs the draw from the recorded canonical inputs only, and reveals
   the seed in the ``DrawResult`` together with the assignments and a report of every
   excluded expert and why (``exclusions``) and of projects without enough candidates
   (``shortfalls``; never an exception).

Determinism and fairness
------------------------
Random numbers come from the stream of ``geo.lottery`` (the business-free parts of a lottery): HMAC-SHA256(key=seed, msg=b"chengjian-draw/v1" +
8-byte big-endian counter) blocks. An integer in ``[0, n)`` is made by taking just enough
bytes, masking to the bit length of ``n - 1`` and *rejecting* values ``>= n`` (rejection
sampling). ``x % n`` would favour small values whenever ``n`` does not divide the range, i.e.
some experts would be drawn more often; rejection keeps every candidate equally likely.
Projects are processed in ascending id; candidates are sorted by expert id and picked by a
partial Fisher-Yates shuffle, so the assignments list each project's experts in draw order.
Because the per-round limit is applied in that order, a project late in the order can have a
shortfall even when a different allocation would have served everyone.

How to audit
------------
With the recorded ``inputs`` and ``commitment`` and the revealed ``seed``, call
``verify(inputs, seed_hex, commitment, assignments)``: it re-canonicalizes the inputs (so
a JSON store that reorders keys does not matter), recomputes the commitment and reruns the
draw; it is True only if the commitment matches *and* the rerun yields exactly the same
assignments (same experts, same order). ``reproduce(inputs, seed_hex)`` gives the full
result, exclusion report included. Note that commit-reveal proves the result follows from
the committed seed; it does not by itself stop an operator from preparing many times and
keeping a favourable seed, so every commitment issued should be logged, not only the used one.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from geo import lottery

SCHEME = "chengjian-draw/v1"
SEED_BYTES = lottery.SEED_BYTES

# Exclusion reason codes and their Chinese messages, in the order the rules are checked
# (an excluded expert is reported with the first rule it fails).
REASONS = {
    "group": "分组不符",
    "specialty": "专业不符",
    "unavailable": "不可用：{reason}",
    "conflict": "利益回避：所在单位参与本项目",
    "previous": "已评审过本项目",
    "limit": "本轮抽取次数已达上限",
}
SHORTFALL_MESSAGE = "符合条件的专家不足：需要 {needed} 名，仅有 {available} 名"


@dataclass(frozen=True)
class Expert:
    id: int
    name: str
    group: str
    specialties: tuple[str, ...]
    enterprise_uscc: str | None
    available: bool = True
    unavailable_reason: str | None = None


@dataclass(frozen=True)
class Project:
    id: int
    name: str
    group: str
    specialty: str | None
    involved_uscc: tuple[str, ...]
    previous_expert_ids: tuple[int, ...] = ()  # assigned in earlier draws: never again here


@dataclass(frozen=True)
class Rules:
    per_project: int = 2
    max_per_expert: int = 2
    match_specialty: bool = True


@dataclass(frozen=True)
class Prepared:
    inputs: str  # canonical JSON of projects, experts and rules
    inputs_sha256: str
    commitment: str
    seed: bytes = field(repr=False)  # secret until the draw is run

    def record(self) -> dict[str, str]:
        """What to store before ``run``: everything except the seed."""
        return {"inputs": self.inputs, "inputs_sha256": self.inputs_sha256, "commitment": self.commitment}


@dataclass
class DrawResult:
    seed: str  # hex, revealed
    commitment: str
    inputs_sha256: str
    assignments: dict[int, list[int]]
    exclusions: dict[int, list[dict[str, Any]]]
    shortfalls: dict[int, dict[str, Any]]

    def to_json(self) -> str:
        return json.dumps(
            {
                "scheme": SCHEME,
                "seed": self.seed,
                "commitment": self.commitment,
                "inputs_sha256": self.inputs_sha256,
                "assignments": {str(k): v for k, v in self.assignments.items()},
                "exclusions": {str(k): v for k, v in self.exclusions.items()},
                "shortfalls": {str(k): v for k, v in self.shortfalls.items()},
            },
            ensure_ascii=False,
            sort_keys=True,
        )


# --- canonical inputs ------------------------------------------------------------------------


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{what} must be an integer, got {value!r}")
    return value


def _uscc(value: str | None) -> str | None:
    value = (value or "").strip().upper()
    return value or None


def _canonical(projects: Iterable[Project], experts: Iterable[Expert], rules: Rules) -> dict[str, Any]:
    per_project = _int(rules.per_project, "per_project")
    max_per_expert = _int(rules.max_per_expert, "max_per_expert")
    if per_project < 1 or max_per_expert < 1:
        raise ValueError("per_project and max_per_expert must be at least 1")
    ex = sorted(
        (
            {
                "id": _int(e.id, "expert id"),
                "name": str(e.name),
                "group": str(e.group),
                "specialties": sorted(set(map(str, e.specialties))),
                "enterprise_uscc": _uscc(e.enterprise_uscc),
                "available": bool(e.available),
                "unavailable_reason": None if e.unavailable_reason is None else str(e.unavailable_reason),
            }
            for e in experts
        ),
        key=itemgetter("id"),
    )
    pr = sorted(
        (
            {
                "id": _int(p.id, "project id"),
                "name": str(p.name),
                "group": str(p.group),
                "specialty": None if p.specialty is None else str(p.specialty),
                "involved_uscc": sorted({u for u in map(_uscc, p.involved_uscc) if u}),
                "previous_expert_ids": sorted({_int(i, "previous expert id") for i in p.previous_expert_ids}),
            }
            for p in projects
        ),
        key=itemgetter("id"),
    )
    for items, what in ((ex, "expert"), (pr, "project")):
        ids = [d["id"] for d in items]
        if len(ids) != len(set(ids)):
            raise ValueError(f"duplicate {what} id")
    return {
        "scheme": SCHEME,
        "experts": ex,
        "projects": pr,
        "rules": {
            "per_project": per_project,
            "max_per_expert": max_per_expert,
            "match_specialty": bool(rules.match_specialty),
        },
    }


_dumps = lottery.canonical


def _commitment(seed: bytes, inputs_sha256: str) -> str:
    return lottery.commit(seed, inputs_sha256)


def prepare(
    projects: Iterable[Project], experts: Iterable[Expert], rules: Rules = Rules(), seed: bytes | None = None
) -> Prepared:
    """Canonicalize the inputs, pick the seed and commit to it (record ``.record()`` before ``run``)."""
    if seed is None:
        seed = lottery.new_seed()
    if not isinstance(seed, bytes) or len(seed) != SEED_BYTES:
        raise ValueError(f"seed must be {SEED_BYTES} bytes")
    inputs = _dumps(_canonical(projects, experts, rules))
    digest = lottery.sha256_hex(inputs)
    return Prepared(inputs=inputs, inputs_sha256=digest, commitment=_commitment(seed, digest), seed=seed)


# --- the draw --------------------------------------------------------------------------------


class _Stream(lottery.Stream):
    """Deterministic bytes from the seed: HMAC-SHA256(seed, SCHEME || counter) (``geo.lottery.Stream``)."""

    def __init__(self, seed: bytes):
        super().__init__(seed, SCHEME.encode())


def _exclusion(e: dict[str, Any], p: dict[str, Any], rules: dict[str, Any], used: int) -> str | None:
    if e["group"] != p["group"]:
        return "group"
    if rules["match_specialty"] and p["specialty"] is not None and p["specialty"] not in e["specialties"]:
        return "specialty"
    if not e["available"]:
        return "unavailable"
    if e["enterprise_uscc"] is not None and e["enterprise_uscc"] in p["involved_uscc"]:
        return "conflict"
    if e["id"] in p["previous_expert_ids"]:
        return "previous"
    if used >= rules["max_per_expert"]:
        return "limit"
    return None


def _draw(data: dict[str, Any], prepared: Prepared) -> DrawResult:
    rules, stream = data["rules"], _Stream(prepared.seed)
    need = rules["per_project"]
    used: dict[int, int] = {}
    assignments: dict[int, list[int]] = {}
    exclusions: dict[int, list[dict[str, Any]]] = {}
    shortfalls: dict[int, dict[str, Any]] = {}
    for p in sorted(data["projects"], key=lambda d: d["id"]):
        candidates, excluded = [], []
        for e in sorted(data["experts"], key=lambda d: d["id"]):
            code = _exclusion(e, p, rules, used.get(e["id"], 0))
            if code is None:
                candidates.append(e["id"])
            else:
                reason = REASONS[code].format(reason=e["unavailable_reason"] or "未说明原因")
                excluded.append({"expert_id": e["id"], "name": e["name"], "code": code, "reason": reason})
        k = min(need, len(candidates))
        for i in range(k):  # partial Fisher-Yates: k distinct experts, each equally likely
            j = i + stream.below(len(candidates) - i)
            candidates[i], candidates[j] = candidates[j], candidates[i]
        chosen = candidates[:k]
        for eid in chosen:
            used[eid] = used.get(eid, 0) + 1
        assignments[p["id"]], exclusions[p["id"]] = chosen, excluded
        if k < need:
            shortfalls[p["id"]] = {
                "needed": need,
                "available": k,
                "message": SHORTFALL_MESSAGE.format(needed=need, available=k),
            }
    return DrawResult(
        seed=prepared.seed.hex(),
        commitment=prepared.commitment,
        inputs_sha256=prepared.inputs_sha256,
        assignments=assignments,
        exclusions=exclusions,
        shortfalls=shortfalls,
    )


def run(prepared: Prepared) -> DrawResult:
    """Draw from the recorded canonical inputs; deterministic given (inputs, seed)."""
    return _draw(json.loads(prepared.inputs), prepared)


# --- audit -----------------------------------------------------------------------------------


def _parse_inputs(inputs_json: str) -> tuple[list[Project], list[Expert], Rules]:
    data = json.loads(inputs_json)
    if not isinstance(data, dict) or data.get("scheme") != SCHEME:
        raise ValueError(f"inputs are not a {SCHEME} document")
    try:
        experts = [
            Expert(
                id=e["id"],
                name=e["name"],
                group=e["group"],
                specialties=tuple(e["specialties"]),
                enterprise_uscc=e["enterprise_uscc"],
                available=e["available"],
                unavailable_reason=e["unavailable_reason"],
            )
            for e in data["experts"]
        ]
        projects = [
            Project(
                id=p["id"],
                name=p["name"],
                group=p["group"],
                specialty=p["specialty"],
                involved_uscc=tuple(p["involved_uscc"]),
                previous_expert_ids=tuple(p["previous_expert_ids"]),
            )
            for p in data["projects"]
        ]
        r = data["rules"]
        rules = Rules(
            per_project=r["per_project"], max_per_expert=r["max_per_expert"], match_specialty=r["match_specialty"]
        )
    except (KeyError, TypeError) as exc:
        raise ValueError(f"malformed inputs: {exc!r}") from exc
    return projects, experts, rules


def _seed(seed_hex: str) -> bytes:
    try:
        return bytes.fromhex(seed_hex)
    except (TypeError, ValueError) as exc:
        raise ValueError("seed must be hex") from exc


def reproduce(inputs_json: str, seed_hex: str) -> DrawResult:
    """Rerun the draw from recorded inputs and the revealed seed."""
    projects, experts, rules = _parse_inputs(inputs_json)
    return run(prepare(projects, experts, rules, seed=_seed(seed_hex)))


def verify(inputs_json: str, seed_hex: str, commitment: str, result_assignments: Mapping[Any, Any]) -> bool:
    """True iff the seed opens the commitment for these inputs and the rerun gives the same assignments.

    Assignment keys may be ints or their strings (as after a JSON round trip); each project's
    list must match in content and order, and every project must be present. Raises
    ValueError on malformed inputs, seed or assignments.
    """
    result = reproduce(inputs_json, seed_hex)
    if not lottery.opens(bytes.fromhex(result.seed), commitment, result.inputs_sha256):
        return False
    try:
        claimed = {int(k): [_int(x, "expert id") for x in v] for k, v in result_assignments.items()}
    except (AttributeError, TypeError, ValueError) as exc:
        raise ValueError(f"malformed assignments: {exc!r}") from exc
    return claimed == result.assignments
