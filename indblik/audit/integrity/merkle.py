"""The Merkle tree of RFC 6962 (section 2.1), computed as a stream in O(log n) memory."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable


def leaf_hash(data: bytes) -> bytes:
    """Return SHA-256(0x00 || data), the hash of one leaf."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Return SHA-256(0x01 || left || right), the hash of an inner node."""
    return hashlib.sha256(b"\x01" + left + right).digest()


class MerkleBuilder:
    """Compute an RFC 6962 Merkle tree hash over leaves added one at a time, in O(log n) memory.

    The stack holds the roots of complete subtrees, largest first; two of equal size merge as
    soon as they meet. At the end the leftover subtrees fold from the right, which is exactly
    RFC 6962's split at the largest power of two below n.
    """

    def __init__(self) -> None:
        self._stack: list[tuple[int, bytes]] = []
        self.count = 0

    def add(self, data: bytes) -> None:
        """Append a leaf (the raw 32-byte row hash)."""
        # leaf_hash and node_hash inlined: this runs for every row the verifier reads.
        sha256 = hashlib.sha256
        size, digest = 1, sha256(b"\x00" + data).digest()
        stack = self._stack
        while stack and stack[-1][0] == size:
            left_size, left = stack.pop()
            size, digest = left_size + size, sha256(b"\x01" + left + digest).digest()
        stack.append((size, digest))
        self.count += 1

    def root(self) -> bytes:
        """Return the tree hash (SHA-256 of nothing for an empty tree)."""
        if not self._stack:
            return hashlib.sha256(b"").digest()
        digest = self._stack[-1][1]
        for _, left in reversed(self._stack[:-1]):
            digest = node_hash(left, digest)
        return digest


def merkle_root(leaves: Iterable[bytes]) -> bytes:
    """Return the RFC 6962 Merkle tree hash of ``leaves``."""
    builder = MerkleBuilder()
    for leaf in leaves:
        builder.add(leaf)
    return builder.root()
