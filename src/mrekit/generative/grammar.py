"""The output grammar as a token-level automaton, so that constrained outputs always parse.

:class:`Grammar` compiles an :class:`~mrekit.generative.spec.OutputSpec` into a
nondeterministic automaton over token ids, built from the same standalone
segment encodings the training targets are made of:

* text labels and types are tries of their token sequences (a label that is a
  prefix of another keeps both paths open);
* fixed parts (``/NER/``, ``,``, ``<``, ``>``, ``:``, ``;``) are token chains;
* an entity is a non-empty run ``source[i:j]`` of the input text's tokens.

OIELLM, joint: ``(label ("," label)*)? "/TASK/" (":" type ";" ENTITY (";" attr)*)*``
with the number of labels between the fewest and most seen in training;
GIELLM: ``("<" label ">")* "TASK" (items as above)``. Relations are
``":" ENTITY ";" relation ";" ENTITY`` and events
``":" type ";" ENTITY (";" role ";" ENTITY)*``. A model conditioned on gold labels
writes no label; one conditioned on gold items writes no item.

:class:`Automaton` runs the grammar over one input. Its states are frozensets
of ``(0, node)`` (at a grammar node) and ``(1, exit_node, positions)`` (inside
an entity whose next token may be ``source[j]`` for each ``j`` in
``positions``), which makes the entity part an implicit trie of every token run
of the input. Entity rules keep the output parseable and the entity a real
substring: it starts and ends at character boundaries (a byte-level token
inside a character is never an end), does not start or end with a whitespace
token, never holds ``;``, does not start with ``:``, and holds ``:`` only in
span items without attributes (times such as ``10:30``).

:meth:`Automaton.allowed` also keeps the output completable within the token
budget: near the end only tokens after which an accepting state is still
reachable in the tokens left are allowed, so even an output cut at
``max_new_tokens`` parses.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from mrekit.errors import MrekitError
from mrekit.generative.spec import OutputSpec

#: Distance of an unreachable acceptance.
INF = 1 << 30
State = frozenset


class Grammar:
    """The static automaton of a model's output format.

    Args:
        spec: The output format.
        encode: Standalone encoder of fixed segments (see :func:`~mrekit.generative.tokenizer.segment_encoder`).
        eos_id: The end-of-sequence token id.

    Example:
        >>> codes = {"A": [5], "B": [6, 7], "/NER/": [9], ":": [10], ";": [11], "t": [12], ",": [13]}
        >>> g = Grammar(OutputSpec(labels=["A", "B"], types=["t"]), codes.__getitem__, eos_id=1)
        >>> auto = g.automaton([20, 21], [(0, 1), (2, 3)], "x y")
        >>> sorted(auto.allowed(auto.start()))
        [5, 6]
    """

    def __init__(self, spec: OutputSpec, encode: Callable[[str], list[int]], eos_id: int) -> None:
        self.spec = spec
        self.eos_id = eos_id
        self.encode = encode
        self.edges: list[dict[int, int]] = []
        self.eps: list[list[int]] = []
        self.entity_exit: list[int | None] = []
        self.accept: list[bool] = []
        # ':' inside an entity is read back correctly only in span items without attribute fields.
        self.allow_colon = spec.kind == "spans" and not spec.attr_values
        self.start = self._new()
        self._build()
        self._dist: dict[int, list[int]] = {}

    def automaton(self, ids: Sequence[int], offsets: Sequence[tuple[int, int]], text: str) -> Automaton:
        """The automaton for one input, given its text's token ids and character offsets.

        Example:
            >>> codes = {"/NER/": [9], ":": [10], ";": [11], "t": [12]}
            >>> g = Grammar(OutputSpec(types=["t"]), codes.__getitem__, eos_id=1)
            >>> g.automaton([20], [(0, 1)], "x").accepts(g.automaton([20], [(0, 1)], "x").start())
            False
        """
        return Automaton(self, SourceTokens(ids, offsets, text, allow_colon=self.allow_colon))

    # --- building --------------------------------------------------------------------------------------------

    def _new(self) -> int:
        self.edges.append({})
        self.eps.append([])
        self.entity_exit.append(None)
        self.accept.append(False)
        return len(self.edges) - 1

    def _lit(self, node: int, segment: str) -> int:
        ids = self.encode(segment)
        if not ids:
            raise MrekitError("E203", f"the tokenizer encodes {segment!r} as no tokens")
        for token in ids:
            nxt = self._new()
            self.edges[node][token] = nxt
            node = nxt
        return node

    def _choice(self, node: int, strings: Iterable[str]) -> int:
        # A fresh root keeps the trie's edges apart from whatever else leaves ``node``.
        root, end = self._new(), self._new()
        self.eps[node].append(root)
        for string in strings:
            ids = self.encode(string)
            if not ids:
                raise MrekitError("E203", f"the tokenizer encodes {string!r} as no tokens")
            at = root
            for token in ids:
                if token not in self.edges[at]:
                    self.edges[at][token] = self._new()
                at = self.edges[at][token]
            self.eps[at].append(end)
        return end

    def _entity(self, node: int) -> int:
        start, exit_node = self._new(), self._new()
        self.eps[node].append(start)
        self.entity_exit[start] = exit_node
        return exit_node

    def _build(self) -> None:
        spec = self.spec
        low, high = spec.label_bounds
        labels_end = self._new()
        if low == 0:
            self.eps[self.start].append(labels_end)
        node = self.start
        for i in range(high):
            if spec.format == "oiellm":
                node = self._choice(self._lit(node, ",") if i else node, spec.labels)
            else:
                node = self._lit(self._choice(self._lit(node, "<"), spec.labels), ">")
            if i + 1 >= low:
                self.eps[node].append(labels_end)
        marker = f"/{spec.task}/" if spec.format == "oiellm" else spec.task
        items = self._lit(labels_end, marker)
        self.accept[items] = True
        if spec.has_items and spec.types:
            self._item(self._lit(items, ":"), items)

    def _item(self, node: int, items: int) -> None:
        spec = self.spec
        if spec.kind == "relations":
            head = self._entity(node)
            label = self._choice(self._lit(head, ";"), spec.types)
            self.eps[self._entity(self._lit(label, ";"))].append(items)
            return
        trigger = self._entity(self._lit(self._choice(node, spec.types), ";"))
        self.eps[trigger].append(items)
        if spec.kind == "events":
            if spec.roles:
                role = self._choice(self._lit(trigger, ";"), spec.roles)
                self.eps[self._entity(self._lit(role, ";"))].append(trigger)
            return
        previous = trigger
        for key in spec.attr_keys:
            values = spec.attr_values.get(key)
            if not values:
                break  # positional attributes: no later one without this one
            previous = self._choice(self._lit(previous, ";"), values)
            self.eps[previous].append(items)

    # --- distances to acceptance -----------------------------------------------------------------------------

    def distances(self, entity_min: int) -> list[int]:
        """Fewest tokens from each node to an accepting one, when an entity needs ``entity_min`` tokens.

        Example:
            >>> codes = {"/NER/": [9, 8], ":": [10], ";": [11], "t": [12]}
            >>> Grammar(OutputSpec(types=["t"]), codes.__getitem__, eos_id=1).distances(1)[0]
            2
        """
        if entity_min not in self._dist:
            dist = [0 if ok else INF for ok in self.accept]
            changed = True
            while changed:  # Bellman-Ford on a small graph; converges in a few sweeps
                changed = False
                for node in range(len(dist)):
                    best = dist[node]
                    for nxt in self.eps[node]:
                        best = min(best, dist[nxt])
                    for nxt in self.edges[node].values():
                        best = min(best, 1 + dist[nxt])
                    exit_node = self.entity_exit[node]
                    if exit_node is not None:
                        best = min(best, entity_min + dist[exit_node])
                    if best < dist[node]:
                        dist[node], changed = best, True
            self._dist[entity_min] = dist
        return self._dist[entity_min]


class SourceTokens:
    """The input text's tokens as entity runs see them.

    Args:
        ids: Token ids of the text.
        offsets: Character ``(start, end)`` of each token in ``text``.
        text: The text.
        allow_colon: Whether an entity may hold ``:``.

    Example:
        >>> src = SourceTokens([5, 6, 7], [(0, 4), (4, 5), (5, 9)], "play muse")
        >>> src.can_start, src.can_end, src.steps[:3]
        ([True, False, True], [True, False, True], [1, 2, 1])
    """

    def __init__(
        self, ids: Sequence[int], offsets: Sequence[tuple[int, int]], text: str, *, allow_colon: bool = True
    ) -> None:
        n = len(ids)
        self.ids = list(ids)
        pieces = [text[s:e] for s, e in offsets]
        # A token whose offsets repeat its neighbour's is a byte of the same character.
        begins = [j == 0 or offsets[j][0] >= offsets[j - 1][1] for j in range(n)]
        finishes = [j == n - 1 or offsets[j + 1][0] >= offsets[j][1] for j in range(n)]
        self.inside = [";" not in p and (allow_colon or ":" not in p) for p in pieces]
        visible = [bool(p.strip()) for p in pieces]
        self.can_start = [
            self.inside[j] and begins[j] and visible[j] and not pieces[j].lstrip().startswith(":") for j in range(n)
        ]
        self.can_end = [self.inside[j] and finishes[j] and visible[j] for j in range(n)]
        # steps[j]: fewest tokens, from position j on, until the entity may end.
        self.steps = [INF] * (n + 1)
        for j in range(n - 1, -1, -1):
            if self.inside[j]:
                self.steps[j] = 1 if self.can_end[j] else min(INF, 1 + self.steps[j + 1])
        self.starts: dict[int, list[int]] = {}
        for j in range(n):
            if self.can_start[j]:
                self.starts.setdefault(self.ids[j], []).append(j)
        self.entity_min = min((self.steps[j] for j in range(n) if self.can_start[j]), default=INF)


class Automaton:
    """The grammar run over one input: start state, allowed tokens, transitions, distances.

    Example:
        >>> codes = {"A": [5], "/NER/": [9], ":": [10], ";": [11], "t": [12]}
        >>> g = Grammar(OutputSpec(labels=["A"], types=["t"]), codes.__getitem__, eos_id=1)
        >>> auto = g.automaton([20, 21], [(0, 1), (2, 3)], "x y")
        >>> state = auto.run([5, 9, 10, 12, 11])
        >>> sorted(auto.allowed(state))
        [20, 21]
        >>> auto.accepts(auto.run([5, 9, 10, 12, 11, 21]))
        True
    """

    def __init__(self, grammar: Grammar, source: SourceTokens) -> None:
        self.grammar = grammar
        self.source = source
        self.dist = grammar.distances(source.entity_min)
        finite = [d for d in self.dist if d < INF]
        finite_steps = [s for s in source.steps if s < INF]
        # No single token can raise the distance by more than this: below it, check every candidate.
        self.horizon = 1 + max(finite, default=0) + max(finite_steps, default=0)
        self._next: dict[tuple[State, int], State] = {}
        self._allowed: dict[State, frozenset[int]] = {}

    def start(self) -> State:
        """The state before any token."""
        return self._close([(0, self.grammar.start)])

    def run(self, tokens: Iterable[int]) -> State:
        """The state after ``tokens`` (empty when they leave the grammar)."""
        state = self.start()
        for token in tokens:
            state = self.advance(state, token)
        return state

    def accepts(self, state: State) -> bool:
        """Whether the output may end here."""
        return any(s[0] == 0 and self.grammar.accept[s[1]] for s in state)

    def cost(self, state: State) -> int:
        """Fewest tokens from ``state`` to an accepting state (``INF`` if none)."""
        best = INF
        for s in state:
            if s[0] == 0:
                best = min(best, self.dist[s[1]])
            else:
                best = min(best, min(self.source.steps[j] for j in s[2]) + self.dist[s[1]])
        return best

    def allowed(self, state: State, budget: int | None = None) -> frozenset[int]:
        """Token ids allowed next; with ``budget`` (tokens left, this one included) only completable ones.

        A dead state (an output that already left the grammar, which beam search can
        keep as a hopeless beam) allows only the end token.
        """
        eos = self.grammar.eos_id
        if not state:
            return frozenset([eos])
        tokens = self._allowed.get(state)
        if tokens is None:
            # Never enter a dead end (say, an entity run that can only go on into a ';').
            tokens = frozenset(
                t for t in self._candidates(state) if t == eos or self.cost(self.advance(state, t)) < INF
            )
            self._allowed[state] = tokens = tokens or frozenset([eos])
        if budget is None or budget >= self.horizon:
            return tokens
        kept = frozenset(t for t in tokens if t == eos or self.cost(self.advance(state, t)) < budget)
        # Too small a budget for any valid output: no token can guarantee it, so keep the grammar's choice.
        return kept or tokens

    def advance(self, state: State, token: int) -> State:
        """The state after ``token`` (empty when the token is not allowed)."""
        key = (state, token)
        if key not in self._next:
            self._next[key] = self._step(state, token)
        return self._next[key]

    # --- internals --------------------------------------------------------------------------------------------

    def _candidates(self, state: State) -> set[int]:
        grammar, source = self.grammar, self.source
        tokens: set[int] = set()
        for s in state:
            if s[0] == 1:
                tokens.update(source.ids[j] for j in s[2] if j < len(source.ids) and source.inside[j])
                continue
            node = s[1]
            tokens.update(grammar.edges[node])
            if grammar.entity_exit[node] is not None:
                tokens.update(source.starts)
            if grammar.accept[node]:
                tokens.add(grammar.eos_id)
        return tokens

    def _step(self, state: State, token: int) -> State:
        grammar, source = self.grammar, self.source
        out: list[tuple] = []
        for s in state:
            if s[0] == 1:
                nxt = tuple(j + 1 for j in s[2] if j < len(source.ids) and source.ids[j] == token and source.inside[j])
                if nxt:
                    out.append((1, s[1], nxt))
                continue
            node = s[1]
            if token in grammar.edges[node]:
                out.append((0, grammar.edges[node][token]))
            exit_node = grammar.entity_exit[node]
            if exit_node is not None and token in source.starts:
                out.append((1, exit_node, tuple(j + 1 for j in source.starts[token])))
        return self._close(out)

    def _close(self, states: Iterable[tuple]) -> State:
        grammar, can_end = self.grammar, self.source.can_end
        seen: set[tuple] = set()
        stack = list(states)
        while stack:
            s = stack.pop()
            if s in seen:
                continue
            seen.add(s)
            if s[0] == 0:
                stack.extend((0, m) for m in grammar.eps[s[1]])
            elif any(can_end[j - 1] for j in s[2]):
                stack.append((0, s[1]))  # the entity may end here
        return frozenset(seen)
