"""SemEval-2014 Task 4 ABSA XML (read only).

* text level: the aspect categories (multi-label), each with its polarity in
  ``label_attrs`` (restaurants; the laptop files have no categories, so their
  text level is left unannotated);
* word level: the aspect terms as spans labelled ``aspect`` with their polarity
  in ``attrs``; a sentence without terms has an empty, annotated span list.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

from mrekit.errors import MrekitError
from mrekit.files import read_text
from mrekit.schema import Example, Span, validate


def read(path: str | Path, *, term_label: str = "aspect") -> Iterator[Example]:
    """Read the sentences of a SemEval-2014 ABSA XML file.

    Args:
        path: The XML file (``Restaurants_Train_v2.xml``, ``Laptops_Test_Gold.xml``, ...).
        term_label: The span label given to aspect terms.

    Raises:
        MrekitError: ``E140`` for malformed XML (with its line), ``E104`` for a
            sentence without text or with non-integer offsets, ``E112`` when a
            term's offsets do not cover its ``term`` string.

    Example:
        >>> ex = next(read("tests/fixtures/absa_mini.xml"))  # doctest: +SKIP
        >>> ex.labels, ex.label_attrs  # doctest: +SKIP
        (['service'], {'service': {'polarity': 'negative'}})
    """
    try:
        root = ET.fromstring(read_text(path))
    except ET.ParseError as err:
        line, column = err.position
        raise MrekitError("E140", f"malformed XML at column {column}: {err.msg}", path=path, line=line) from None
    count = 0
    for sentence in root.iter("sentence"):
        count += 1
        yield _sentence(sentence, path, term_label)
    if count == 0:
        raise MrekitError("E101", "no <sentence> elements in file", path=path)


def _sentence(node: ET.Element, path: str | Path, term_label: str) -> Example:
    sid = node.get("id")
    where = f"sentence id={sid}"
    text_node = node.find("text")
    if text_node is None or text_node.text is None:
        raise MrekitError("E104", f"{where} has no <text>", path=path, field=where)
    labels, label_attrs = [], {}
    for cat in node.iter("aspectCategory"):
        name = cat.get("category", "")
        if name not in label_attrs:
            labels.append(name)
        label_attrs[name] = {"polarity": cat.get("polarity")}
    example = Example(
        text=text_node.text,
        id=sid,
        labels=labels,
        label_attrs=label_attrs,
        spans=[_term(t, where, path, term_label) for t in node.iter("aspectTerm")],
        meta={"source": "semeval14-absa"},
    )
    problems = validate(example)
    if problems:
        err = problems[0]
        raise MrekitError(err.code, f"{where}: {err.message}", path=path, field=err.field, hint=err.hint)
    return example


def _term(node: ET.Element, where: str, path: str | Path, label: str) -> Span:
    try:
        start, end = int(node.get("from", "")), int(node.get("to", ""))
    except ValueError:
        raise MrekitError("E104", f"{where}: aspectTerm offsets must be integers", path=path, field=where) from None
    attrs = {"polarity": node.get("polarity")} if node.get("polarity") else {}
    return Span(start, end, label, attrs=attrs, surface=node.get("term"))
