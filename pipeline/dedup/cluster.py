"""Cluster matched pairs with union-find under cannot-link constraints, strongest evidence first.

Plain connected components would let one weak or wrong edge chain two different publications
together (A~B, B~C, so A~C). Instead edges are applied greedily, best score first, and every
union is checked against the *whole* clusters on both sides: each cluster carries a small
summary (its pages, language, titles, years, ISBNs, forbids...) and a union is refused, with the
reason recorded, when the summaries cannot belong to one item. Forced edges (a pin, one
canonical URL) are applied first and are refused only by a forbid: a forbid beats any rule.

Ambiguity: a sighting whose best matches are several clusters that cannot be one item (three
volumes sharing one abstract; a teaser whose text is repeated on one page) cannot be placed by
its text, so it is left alone rather than joined to an arbitrary one of them. Matches are
compared by the class of their evidence (a card's place among identical cards of one listing,
then the same text or a prefix of it, then a paraphrase), and a match with one of several
identical texts counts as a match with each of them. This costs recall on such sightings and
keeps precision, which is the right trade for a warehouse of record.

The order of edges is total (score, rule rank, then the smaller sighting index), so the result
does not depend on the order rows were read in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Generic, Protocol, Self, TypeVar

import numpy as np

#: candidates whose scores are within this of the best count as tied (mutual-best tests)
TIE_MARGIN = 0.02
#: evidence classes whose scores grade similarity (paraphrase); within them candidates within
#: GRADED_MARGIN of the best are tied. In other classes (the same text, a prefix of it) every
#: candidate is as good as the best: the same words are the same evidence.
GRADED_CLASSES = frozenset({2})
GRADED_MARGIN = 0.02
#: at most this many tied candidates are compared with each other for the ambiguity test
MAX_TIED = 12


class Summary(Protocol):
    """What a cluster says about its item; a level compares and merges only its own kind (Self)."""

    def compatible(self, other: Self, strict: bool) -> str | None:
        """Why these two clusters cannot be one, or None."""

    def merged(self, other: Self) -> Self:
        """The summary of the union."""


S = TypeVar("S", bound=Summary)


@dataclass(slots=True)
class Link:
    """One decision about a pair: joined, vetoed (with the reason), or left as ambiguous."""

    a: int
    b: int
    rule: str
    score: float
    decision: str
    reason: str | None = None
    evidence: str | None = None


@dataclass
class Edges:
    """Scored candidate edges as parallel arrays (i < j not required)."""

    i: np.ndarray
    j: np.ndarray
    rule: list[str]
    score: np.ndarray
    detail: list[str | None] = field(default_factory=list)

    @staticmethod
    def empty() -> Edges:
        return Edges(np.empty(0, np.int64), np.empty(0, np.int64), [], np.empty(0))

    def __len__(self) -> int:
        return len(self.i)


class UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = np.arange(n, dtype=np.int64)

    def find(self, x: int) -> int:
        parent = self.parent
        root = x
        while parent[root] != root:
            root = int(parent[root])
        while parent[x] != root:
            parent[x], x = root, int(parent[x])
        return root

    def union(self, a: int, b: int) -> int:
        """Join the sets of a and b; the smaller root index survives (deterministic)."""
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return ra
        keep, gone = (ra, rb) if ra < rb else (rb, ra)
        self.parent[gone] = keep
        return keep

    def labels(self) -> np.ndarray:
        """Root of every element, fully compressed (vectorised)."""
        parent = self.parent
        while True:
            grand = parent[parent]
            if np.array_equal(grand, parent):
                return parent.copy()
            parent = grand


class Clusterer(Generic[S]):
    """Greedy constrained agglomeration over a fixed set of nodes."""

    def __init__(
        self,
        n: int,
        summary_of: Callable[[int], S],
        rule_rank: dict[str, int],
        evidence_class: dict[str, int] | None = None,
        twin_rule: str | None = None,
    ) -> None:
        self.uf = UnionFind(n)
        self.evidence_class = evidence_class or {}
        self.twin_rule = twin_rule
        self._summary_of = summary_of
        self._summaries: dict[int, S] = {}
        self.rule_rank = rule_rank
        self.links: list[Link] = []

    def summary(self, root: int) -> S:
        found = self._summaries.get(root)
        if found is None:
            found = self._summary_of(root)
        return found

    def _join(self, a: int, b: int, rule: str, score: float, strict: bool, reason_prefix: str = "") -> bool:
        ra, rb = self.uf.find(a), self.uf.find(b)
        if ra == rb:
            return True
        sa, sb = self.summary(ra), self.summary(rb)
        why = sa.compatible(sb, strict)
        if why is not None:
            self.links.append(Link(a, b, rule, score, "vetoed", reason_prefix + why))
            return False
        merged = sa.merged(sb)
        keep = self.uf.union(ra, rb)
        self._summaries.pop(ra, None)
        self._summaries.pop(rb, None)
        self._summaries[keep] = merged
        self.links.append(Link(a, b, rule, score, "joined"))
        return True

    def force(self, pairs: Iterable[tuple[int, int, str]]) -> None:
        """Apply unconditional edges (pins, one URL): only a forbid refuses them."""
        for a, b, rule in pairs:
            self._join(int(a), int(b), rule, 1.0, strict=True)

    def ambiguous_roots(self, edges: Edges, evidence_class: dict[str, int], twin_rule: str | None) -> set[int]:
        """Roots whose best candidates cannot be one item with each other.

        Candidates are compared by the class of their evidence (`evidence_class`: lower is
        stronger) and, within the class of graded evidence, by score. A match with one of
        several identical texts (`twin_rule` edges, e.g. same_text) is a match with all of them,
        even when blocking proposed only one: the twins are added as candidates.
        """
        find = self.uf.find
        twins: dict[int, list[int]] = {}
        if twin_rule is not None:
            for a, b, rule in zip(edges.i.tolist(), edges.j.tolist(), edges.rule, strict=True):
                if rule == twin_rule:
                    twins.setdefault(a, []).append(b)
                    twins.setdefault(b, []).append(a)
        best: dict[int, dict[int, tuple[int, float]]] = {}

        def offer(root: int, other: int, rank: tuple[int, float]) -> None:
            if root == other:
                return
            mine = best.setdefault(root, {})
            if other not in mine or rank < mine[other]:
                mine[other] = rank

        for a, b, rule, score in zip(edges.i.tolist(), edges.j.tolist(), edges.rule, edges.score.tolist(), strict=True):
            klass = evidence_class.get(rule, 9)
            rank = (klass, -score)
            for x, y in ((a, b), (b, a)):
                rx = find(x)
                offer(rx, find(y), rank)
                if klass > 0:  # text evidence holds for every identical text; position does not
                    for twin in twins.get(y, ()):
                        offer(rx, find(twin), rank)
        ambiguous: set[int] = set()
        for root, found in best.items():
            if len(found) < 2:
                continue
            mine = self.summary(root)
            usable = sorted(
                ((rank, c) for c, rank in found.items() if mine.compatible(self.summary(c), False) is None),
            )
            if len(usable) < 2:
                continue
            (klass, top_score), _ = usable[0]
            margin = GRADED_MARGIN if klass in GRADED_CLASSES else 1.0
            top = [c for (k, s), c in usable if k == klass and -s >= -top_score - margin][:MAX_TIED]
            if len(top) < 2:
                continue
            summaries = [self.summary(c) for c in top]
            if any(
                summaries[x].compatible(summaries[y], False) is not None
                for x in range(len(top))
                for y in range(x + 1, len(top))
            ):
                ambiguous.add(root)
        return ambiguous

    def run(self, edges: Edges, strict_rules: frozenset[str] = frozenset(), check_ambiguity: bool = True) -> None:
        """Apply scored edges best first; record every join, veto and ambiguity."""
        if not len(edges):
            return
        ambiguous = self.ambiguous_roots(edges, self.evidence_class, self.twin_rule) if check_ambiguity else set()
        ranks = np.array([self.rule_rank.get(r, 99) for r in edges.rule])
        lo = np.minimum(edges.i, edges.j)
        hi = np.maximum(edges.i, edges.j)
        order = np.lexsort((hi, lo, ranks, -edges.score))
        find = self.uf.find
        for k in order.tolist():
            a, b, rule, score = int(edges.i[k]), int(edges.j[k]), edges.rule[k], float(edges.score[k])
            if ambiguous:
                ra, rb = find(a), find(b)
                if ra in ambiguous or rb in ambiguous:
                    if ra != rb:
                        self.links.append(
                            Link(a, b, rule, score, "ambiguous", "several equally good matches that cannot be one item")
                        )
                    continue
            self._join(a, b, rule, score, strict=rule in strict_rules)

    def labels(self) -> np.ndarray:
        return self.uf.labels()
