"""The business-free parts of a verifiable lottery: a deterministic random stream from a secret seed, canonical JSON
of the published inputs, seed commitments, and the quota pick that keeps realized shares at their targets.

A lottery built on these (the expert draw of ``geo.draw``, the drawing review's agency draw) publishes its inputs as
canonical JSON (``canonical``: sorted keys, no insignificant whitespace, UTF-8) with their SHA-256, commits to a
32-byte seed from ``secrets`` before the draw (``commit``: SHA-256 of the seed, or of the seed and the inputs'
digest) and reveals the seed after it; anyone reruns the draw from the published inputs and the seed.

Random numbers (``Stream``) are HMAC-SHA256(key=seed, msg=label || 8-byte big-endian counter) blocks; an integer in
``[0, n)`` takes just enough bytes, masks them to the bit length of ``n - 1`` and rejects values ``>= n``
(rejection sampling: ``x % n`` would favour small values). The label names the scheme and may bind the stream to
the inputs (their digest), so that one seed gives unrelated streams for different inputs.

Quota pick (``quota_pick``): participants ``i`` with integer targets ``T_i`` (parts of ``total``, e.g. hundredths of
a percent of 10,000) and realized counts ``c_i`` after ``n`` draws; the *deficit* of ``i`` for the next draw is
``D_i = T_i × (n + 1) − total × c_i`` (in units of ``1/total`` draws: how far ``i`` is behind its target share
once this draw is made). Among the eligible participants, one with a positive deficit is drawn with probability
proportional to its deficit (a participant ahead of its share is never drawn); when no eligible participant has a
positive deficit (a narrow eligibility), the one with the largest deficit is taken, ties broken by the stream.
A participant's count never exceeds ``T_i (n + 1) / total`` by one draw or more, and a participant that falls
behind gets an ever larger weight, so realized shares track the targets within a few draws while each draw stays
random (and every draw reproducible from the published counts and the seed).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

SEED_BYTES = 32


def canonical(data: Any) -> str:
    """The one text of a JSON document: sorted keys, no insignificant whitespace, non-ASCII kept (hash its UTF-8)."""
    return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def new_seed() -> bytes:
    """A fresh secret seed from the operating system's cryptographic source."""
    return secrets.token_bytes(SEED_BYTES)


def parse_seed(seed_hex: str) -> bytes:
    """The seed of its published hex; ValueError when it is not ``SEED_BYTES`` bytes of hex."""
    try:
        seed = bytes.fromhex(seed_hex)
    except (TypeError, ValueError) as exc:
        raise ValueError("seed must be hex") from exc
    if len(seed) != SEED_BYTES:
        raise ValueError(f"seed must be {SEED_BYTES} bytes")
    return seed


def commit(seed: bytes, inputs_sha256: str | None = None) -> str:
    """The commitment to a seed (hex SHA-256 of the seed, followed by the inputs' digest when given)."""
    return hashlib.sha256(seed + (bytes.fromhex(inputs_sha256) if inputs_sha256 else b"")).hexdigest()


def opens(seed: bytes, commitment: str, inputs_sha256: str | None = None) -> bool:
    """Whether ``seed`` (with the inputs' digest, when the commitment includes it) opens ``commitment``."""
    if not isinstance(commitment, str):
        return False
    return hmac.compare_digest(commitment.strip().lower().encode(), commit(seed, inputs_sha256).encode())


class Stream:
    """Deterministic bytes and integers from the seed: HMAC-SHA256(seed, label || counter)."""

    def __init__(self, seed: bytes, label: bytes):
        self._seed, self._label, self._counter, self._buf = seed, label, 0, b""

    def take(self, n: int) -> bytes:
        while len(self._buf) < n:
            msg = self._label + self._counter.to_bytes(8, "big")
            self._buf += hmac.new(self._seed, msg, hashlib.sha256).digest()
            self._counter += 1
        out, self._buf = self._buf[:n], self._buf[n:]
        return out

    def below(self, n: int) -> int:
        """Uniform integer in [0, n) by rejection sampling (no modulo bias)."""
        if n <= 1:
            return 0
        bits = (n - 1).bit_length()
        mask = (1 << bits) - 1
        while True:
            x = int.from_bytes(self.take((bits + 7) // 8), "big") & mask
            if x < n:
                return x


def deficits(targets: Mapping[int, int], counts: Mapping[int, int], drawn: int, total: int) -> dict[int, int]:
    """Each participant's deficit for the next draw: ``T_i × (n + 1) − total × c_i`` (see the module's docstring)."""
    return {i: t * (drawn + 1) - total * counts.get(i, 0) for i, t in targets.items()}


def quota_pick(
    targets: Mapping[int, int],
    counts: Mapping[int, int],
    drawn: int,
    eligible: Sequence[int],
    stream: Stream,
    total: int,
) -> tuple[int | None, dict[int, int], str]:
    """Pick one of ``eligible`` (ids of ``targets``) by deficit; returns (the id or None when nobody is eligible,
    every eligible participant's deficit, how it was picked: ``weighted`` | ``largest`` | ``none``)."""
    due = deficits(targets, counts, drawn, total)
    pool = sorted(set(eligible))
    weights = {i: due[i] for i in pool}
    if not pool:
        return None, weights, "none"
    positive = [i for i in pool if weights[i] > 0]
    if positive:
        r = stream.below(sum(weights[i] for i in positive))
        for i in positive:
            r -= weights[i]
            if r < 0:
                return i, weights, "weighted"
    top = max(weights.values())
    tied = [i for i in pool if weights[i] == top]
    return tied[stream.below(len(tied))], weights, "largest"
