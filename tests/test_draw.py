"""The auditable expert draw (layers/draw.py): rules, reproducibility, verification, fairness."""

from __future__ import annotations

import hashlib
import json
from collections import Counter

import pytest

from geo import draw
from geo.draw import Expert, Project, Rules, prepare, reproduce, run, verify

ACME = "91330100MA2XXXXX1A"
BETA = "91330100MA2YYYYY2B"


def seed(i: int) -> bytes:
    return i.to_bytes(32, "big")


def experts(n: int, group: str = "房建", specialty: str = "安全", start: int = 1) -> list[Expert]:
    return [Expert(i, f"专家{i}", group, (specialty,), None) for i in range(start, start + n)]


def project(pid: int = 1, group: str = "房建", specialty: str | None = "安全", involved=(), previous=()) -> Project:
    return Project(pid, f"项目{pid}", group, specialty, tuple(involved), tuple(previous))


def draw_once(projects, exps, rules=Rules(), s=seed(1)):
    return run(prepare(projects, exps, rules, seed=s))


def codes(result, pid: int = 1) -> dict[int, str]:
    return {x["expert_id"]: x["code"] for x in result.exclusions[pid]}


# --- rules ----------------------------------------------------------------------------------


def test_every_exclusion_rule_with_reason():
    exps = [
        Expert(1, "甲", "市政", ("安全",), None),  # wrong group
        Expert(2, "乙", "房建", ("质量",), None),  # wrong specialty
        Expert(3, "丙", "房建", ("安全",), None, available=False, unavailable_reason="出差"),
        Expert(4, "丁", "房建", ("安全",), ACME.lower() + " "),  # conflict (normalized)
        Expert(5, "戊", "房建", ("安全", "质量"), None),  # previously assigned
        Expert(6, "己", "房建", ("安全",), BETA),  # eligible
        Expert(7, "庚", "房建", ("安全",), None),  # eligible
    ]
    result = draw_once([project(involved=[ACME], previous=[5])], exps)
    excluded = {x["expert_id"]: x for x in result.exclusions[1]}
    assert {k: v["code"] for k, v in excluded.items()} == {
        1: "group",
        2: "specialty",
        3: "unavailable",
        4: "conflict",
        5: "previous",
    }
    assert {k: v["reason"] for k, v in excluded.items()} == {
        1: "分组不符",
        2: "专业不符",
        3: "不可用：出差",
        4: "利益回避：所在单位参与本项目",
        5: "已评审过本项目",
    }
    assert excluded[1]["name"] == "甲"
    assert sorted(result.assignments[1]) == [6, 7]
    assert result.shortfalls == {}


def test_unavailable_without_reason_and_specialty_rules():
    exps = [Expert(1, "甲", "房建", ("质量",), None), Expert(2, "乙", "房建", ("安全",), None, available=False)]
    result = draw_once([project()], exps, Rules(per_project=1))
    assert codes(result) == {1: "specialty", 2: "unavailable"}
    assert result.exclusions[1][1]["reason"] == "不可用：未说明原因"
    # specialty not checked when the rule is off or the project has none
    assert draw_once([project()], exps, Rules(per_project=1, match_specialty=False)).assignments == {1: [1]}
    assert draw_once([project(specialty=None)], exps, Rules(per_project=1)).assignments == {1: [1]}


def test_two_distinct_experts_per_project():
    exps = experts(8)
    projects = [project(pid) for pid in range(1, 5)]
    for i in range(50):
        result = draw_once(projects, exps, Rules(max_per_expert=4), s=seed(i))
        for pid in range(1, 5):
            chosen = result.assignments[pid]
            assert len(chosen) == 2 and len(set(chosen)) == 2


def test_previous_experts_never_drawn_again():
    exps = experts(4)
    for i in range(100):
        result = draw_once([project(previous=[1, 2])], exps, s=seed(i))
        assert sorted(result.assignments[1]) == [3, 4]


def test_per_round_limit_across_projects():
    exps = experts(4)
    projects = [project(pid) for pid in range(1, 5)]  # 4 projects × 2 = 8 slots = 4 experts × 2
    for i in range(30):
        result = draw_once(projects, exps, Rules(max_per_expert=2), s=seed(i))
        counts = Counter(e for chosen in result.assignments.values() for e in chosen)
        assert max(counts.values()) <= 2
        limited = [x for xs in result.exclusions.values() for x in xs if x["code"] == "limit"]
        assert all(x["reason"] == "本轮抽取次数已达上限" for x in limited)
    # limit 1: four experts cover only two projects; the later projects (by id) fall short
    result = draw_once(projects, exps, Rules(max_per_expert=1))
    assert sorted(e for chosen in result.assignments.values() for e in chosen) == [1, 2, 3, 4]
    assert result.assignments[3] == result.assignments[4] == []
    assert set(codes(result, 4).values()) == {"limit"}


def test_shortfall_reported_not_raised():
    exps = experts(1) + [Expert(9, "回避", "房建", ("安全",), ACME)]
    result = draw_once([project(involved=[ACME]), project(2, group="园林")], exps)
    assert result.assignments == {1: [1], 2: []}
    assert result.shortfalls[1] == {"needed": 2, "available": 1, "message": "符合条件的专家不足：需要 2 名，仅有 1 名"}
    assert result.shortfalls[2]["message"] == "符合条件的专家不足：需要 2 名，仅有 0 名"


def test_input_order_does_not_matter():
    exps, projects = experts(6), [project(pid) for pid in (3, 1, 2)]
    a = draw_once(projects, exps)
    b = draw_once(list(reversed(projects)), list(reversed(exps)))
    assert a.inputs_sha256 == b.inputs_sha256 and a.assignments == b.assignments


def test_bad_inputs_rejected():
    with pytest.raises(ValueError):
        prepare([project(1), project(1)], experts(3))
    with pytest.raises(ValueError):
        prepare([project()], experts(1) + experts(1))
    with pytest.raises(ValueError):
        prepare([project()], experts(3), Rules(per_project=0))
    with pytest.raises(ValueError):
        prepare([project()], experts(3), seed=b"short")


# --- commitment and reproducibility ---------------------------------------------------------


def test_prepare_commits_before_reveal():
    p = prepare([project()], experts(3), seed=seed(7))
    assert p.inputs_sha256 == hashlib.sha256(p.inputs.encode("utf-8")).hexdigest()
    assert p.commitment == hashlib.sha256(seed(7) + bytes.fromhex(p.inputs_sha256)).hexdigest()
    assert set(p.record()) == {"inputs", "inputs_sha256", "commitment"}
    assert seed(7).hex() not in repr(p) and seed(7).hex() not in json.dumps(p.record())
    json.loads(p.inputs)  # plain JSON


def test_default_seed_from_secrets(monkeypatch):
    calls = []

    def fake_token_bytes(n):
        calls.append(n)
        return b"\xab" * n

    monkeypatch.setattr(draw.lottery.secrets, "token_bytes", fake_token_bytes)  # the core lottery draws seeds
    p = prepare([project()], experts(3))
    assert calls == [32] and p.seed == b"\xab" * 32
    assert run(p).seed == "ab" * 32


def test_same_seed_same_result_different_seeds_differ():
    exps, projects = experts(10), [project(pid) for pid in range(1, 4)]
    a, b = draw_once(projects, exps, s=seed(42)), draw_once(projects, exps, s=seed(42))
    assert a.to_json() == b.to_json()
    outcomes = {json.dumps(draw_once(projects, exps, s=seed(i)).assignments) for i in range(200)}
    assert len(outcomes) > 150  # 10·9·8·7·6·5 ordered outcomes, so almost all differ


def test_reproduce_from_record_and_json_roundtrip():
    exps = experts(6) + [Expert(20, "回避", "房建", ("安全",), ACME)]
    p = prepare([project(involved=[ACME]), project(2)], exps)
    rec = p.record()
    result = run(p)
    again = reproduce(rec["inputs"], result.seed)
    assert again.to_json() == result.to_json()
    # survives storage in a store that reorders keys (e.g. jsonb)
    reordered = json.dumps(json.loads(rec["inputs"]), sort_keys=False, indent=2)
    assert reproduce(reordered, result.seed).assignments == result.assignments
    data = json.loads(result.to_json())
    assert data["exclusions"]["1"][0]["code"] == "conflict"
    assert verify(reordered, data["seed"], rec["commitment"], data["assignments"]) is True


# --- verify ---------------------------------------------------------------------------------


@pytest.fixture
def audited():
    p = prepare([project(1), project(2)], experts(6))
    rec, result = p.record(), run(p)
    return rec, result


def test_verify_accepts_honest_draw(audited):
    rec, result = audited
    assert verify(rec["inputs"], result.seed, rec["commitment"], result.assignments) is True
    assert verify(rec["inputs"], result.seed.upper(), rec["commitment"].upper(), result.assignments) is True


def test_verify_fails_on_changed_input(audited):
    rec, result = audited
    data = json.loads(rec["inputs"])
    data["experts"][0]["available"] = False
    assert verify(json.dumps(data), result.seed, rec["commitment"], result.assignments) is False
    data = json.loads(rec["inputs"])
    data["rules"]["max_per_expert"] = 1
    assert verify(json.dumps(data), result.seed, rec["commitment"], result.assignments) is False


def test_verify_fails_on_changed_seed(audited):
    rec, result = audited
    other = reproduce(rec["inputs"], seed(1).hex())
    assert verify(rec["inputs"], seed(1).hex(), rec["commitment"], result.assignments) is False
    # even when the assignments are the other seed's own
    assert verify(rec["inputs"], seed(1).hex(), rec["commitment"], other.assignments) is False


def test_verify_fails_on_changed_commitment(audited):
    rec, result = audited
    bad = ("0" if rec["commitment"][0] != "0" else "1") + rec["commitment"][1:]
    assert verify(rec["inputs"], result.seed, bad, result.assignments) is False
    assert verify(rec["inputs"], result.seed, "承诺", result.assignments) is False


def test_verify_fails_on_altered_assignments(audited):
    rec, result = audited
    a = {k: list(v) for k, v in result.assignments.items()}
    swapped = {**a, 1: [e for e in range(1, 7) if e not in a[1]][:2]}
    assert verify(rec["inputs"], result.seed, rec["commitment"], swapped) is False
    assert verify(rec["inputs"], result.seed, rec["commitment"], {1: a[1]}) is False  # project dropped
    assert verify(rec["inputs"], result.seed, rec["commitment"], {**a, 2: a[2][:1]}) is False
    with pytest.raises(ValueError):
        verify(rec["inputs"], result.seed, rec["commitment"], {"x": [1]})


def test_verify_raises_on_malformed_record(audited):
    rec, result = audited
    with pytest.raises(ValueError):
        verify(rec["inputs"], "not hex", rec["commitment"], result.assignments)
    with pytest.raises(ValueError):
        verify('{"experts": []}', result.seed, rec["commitment"], result.assignments)


# --- fairness -------------------------------------------------------------------------------


def test_rejection_sampling_is_unbiased_and_in_range():
    stream = draw._Stream(seed(3))
    values = [stream.below(6) for _ in range(6000)]
    assert set(values) == set(range(6))
    counts = Counter(values)
    assert all(800 <= counts[v] <= 1200 for v in range(6))  # expected 1000, sd ≈ 29
    assert all(stream.below(1) == 0 for _ in range(3))


def test_uniform_over_many_draws():
    exps, proj = experts(6), [project()]
    counts: Counter[int] = Counter()
    pairs: Counter[tuple[int, int]] = Counter()
    trials = 3000
    for i in range(trials):
        chosen = draw_once(proj, exps, s=hashlib.sha256(b"trial%d" % i).digest()).assignments[1]
        counts.update(chosen)
        pairs[tuple(sorted(chosen))] += 1
    expected = trials * 2 / 6  # each expert chosen with probability 1/3
    assert all(abs(counts[e] - expected) < 0.12 * expected for e in range(1, 7)), counts
    chi2 = sum((counts[e] - expected) ** 2 / expected for e in range(1, 7))
    assert chi2 < 30  # 5 d.o.f.: p(chi2 > 30) ≈ 1.5e-5
    assert len(pairs) == 15 and min(pairs.values()) > 120  # each of the 15 pairs ~200 times


# --- the core lottery's quota pick (geo/lottery.py) -----------------------------------------------------------------


def test_quota_pick_tracks_targets_and_stays_random():
    from geo.lottery import Stream, quota_pick

    targets = {1: 2500, 2: 2000, 3: 2000, 4: 1500, 5: 1000, 6: 1000}
    firsts = set()
    for run_no in range(20):
        counts: Counter = Counter()
        worst = 0.0
        for n in range(200):
            chosen, weights, method = quota_pick(
                targets, counts, n, list(targets), Stream(seed(run_no * 1000 + n), b"t"), 10_000
            )
            assert method == "weighted" and weights[chosen] > 0
            counts[chosen] += 1
            worst = max(worst, *(abs(counts[i] - t * (n + 1) / 10_000) for i, t in targets.items()))
        assert worst < 3  # never three draws away from any target
        firsts.add(chosen)
    assert len(firsts) > 1  # the last pick differs between seeds: random, not a fixed rotation


def test_quota_pick_largest_deficit_and_nobody():
    from geo.lottery import Stream, deficits, quota_pick

    targets = {1: 5000, 2: 5000}
    # Agency 2 alone is eligible but already ahead: the largest deficit (its own) decides.
    counts = {1: 0, 2: 3}
    assert deficits(targets, counts, 3, 10_000) == {1: 20_000, 2: -10_000}
    assert quota_pick(targets, counts, 3, [2], Stream(seed(1), b"t"), 10_000)[::2] == (2, "largest")
    assert quota_pick(targets, counts, 3, [], Stream(seed(1), b"t"), 10_000) == (None, {}, "none")
    # Same seed and label, same pick; another label, an unrelated stream.
    a = [quota_pick({1: 1, 2: 1, 3: 1}, {}, 0, [1, 2, 3], Stream(seed(i), b"x"), 3)[0] for i in range(30)]
    b = [quota_pick({1: 1, 2: 1, 3: 1}, {}, 0, [1, 2, 3], Stream(seed(i), b"x"), 3)[0] for i in range(30)]
    c = [quota_pick({1: 1, 2: 1, 3: 1}, {}, 0, [1, 2, 3], Stream(seed(i), b"y"), 3)[0] for i in range(30)]
    assert a == b and a != c and set(a) == {1, 2, 3}
