"""Deterministic randomness: every generated value derives from (seed, domain, index).

Records are rebuilt on demand instead of stored, so each one needs its own
reproducible random stream. String seeds go through SHA-512 inside `random`,
which makes them independent of PYTHONHASHSEED and stable across runs.
"""

from __future__ import annotations

import hashlib
import random


def rng_for(seed: int, domain: str, index: int = 0) -> random.Random:
    """A random stream for one entity (a host, an SSH key, a day of history)."""
    return random.Random(f"{seed}:{domain}:{index}")


class Draws:
    """Uniform draws carved out of one 512-bit hash of (seed, sequence id).

    Seeding a `random.Random` costs more than building half a record, and a page
    builds a thousand records; one BLAKE2b digest gives every core value at once.
    `take(n)` peels a value in [0, n) off the number (mixed-radix digits), so each
    draw is independent of the others and of how many draws follow it.
    """

    __slots__ = ("value",)

    def __init__(self, seed: int, sequence_id: int) -> None:
        digest = hashlib.blake2b(b"%d:%d" % (seed, sequence_id), digest_size=64).digest()
        self.value = int.from_bytes(digest, "big")

    def take(self, modulus: int) -> int:
        """A value in [0, modulus)."""
        self.value, digit = divmod(self.value, modulus)
        return digit

    def chance(self, probability: float) -> bool:
        """True with the given probability (in steps of 1/10000)."""
        return self.take(10_000) < probability * 10_000

    def hex(self, count: int) -> str:
        """`count` hex digits."""
        return f"{self.take(16**count):0{count}x}"


def hex_digits(rng: random.Random, count: int) -> str:
    """`count` lowercase hex digits (hashes, fingerprints, ids)."""
    return f"{rng.getrandbits(4 * count):0{count}x}"


def uuid_from(rng: random.Random) -> str:
    """A version-4-shaped UUID string drawn from `rng`."""
    value = hex_digits(rng, 32)
    variant = "89ab"[int(value[16], 16) % 4]
    return f"{value[:8]}-{value[8:12]}-4{value[13:16]}-{variant}{value[17:20]}-{value[20:]}"
