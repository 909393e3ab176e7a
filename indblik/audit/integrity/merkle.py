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

    Leaves wait in a buffer of :data:`BLOCK` (a power of two) and are hashed a whole block at
    a time, level by level - the same subtree, with far less Python per leaf than merging
    each leaf into the stack. (Memory: the stack and one block.)
    """

    BLOCK = 1024

    def __init__(self) -> None:
        self._stack: list[tuple[int, bytes]] = []
        self._pending: list[bytes] = []
        self.count = 0

    def add(self, data: bytes) -> None:
        """Append a leaf (the raw 32-byte row hash)."""
        pending = self._pending
        pending.append(data)
        self.count += 1
        if len(pending) == self.BLOCK:
            sha256 = hashlib.sha256
            level = [sha256(b"\x00" + leaf).digest() for leaf in pending]
            while len(level) > 1:
                pairs = iter(level)
                level = [
                    sha256(b"\x01" + left + right).digest()
                    for left, right in zip(pairs, pairs, strict=True)
                ]
            pending.clear()
            # Every earlier leaf went in as part of a whole block: the stack holds subtrees of
            # BLOCK leaves or more, so the block's root merges exactly as a leaf would.
            self._push(self.BLOCK, level[0])

    def _push(self, size: int, digest: bytes) -> None:
        stack = self._stack
        while stack and stack[-1][0] == size:
            left_size, left = stack.pop()
            size, digest = left_size + size, node_hash(left, digest)
        stack.append((size, digest))

    def root(self) -> bytes:
        """Return the tree hash (SHA-256 of nothing for an empty tree)."""
        stack = list(self._stack)
        for leaf in self._pending:  # the last, partial block: leaf by leaf
            size, digest = 1, leaf_hash(leaf)
            while stack and stack[-1][0] == size:
                left_size, left = stack.pop()
                size, digest = left_size + size, node_hash(left, digest)
            stack.append((size, digest))
        if not stack:
            return hashlib.sha256(b"").digest()
        digest = stack[-1][1]
        for _, left in reversed(stack[:-1]):
            digest = node_hash(left, digest)
        return digest


def merkle_root(leaves: Iterable[bytes]) -> bytes:
    """Return the RFC 6962 Merkle tree hash of ``leaves``."""
    builder = MerkleBuilder()
    for leaf in leaves:
        builder.add(leaf)
    return builder.root()
