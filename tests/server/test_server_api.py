"""The HTTP API on a real tiny model and on fake models: results, limits, errors, batching, shutdown."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from pathlib import Path

import httpx
import pytest

pytest.importorskip("fastapi", reason="the server extra (fastapi) is not installed")

from fastapi.testclient import TestClient  # noqa: E402

import mrekit  # noqa: E402
from mrekit.encoder.model import MREModel  # noqa: E402
from mrekit.schema import Event, Example, Relation, Span  # noqa: E402
from mrekit.server.app import STATIC, create_app  # noqa: E402
from mrekit.server.schemas import ExtractResult  # noqa: E402
from mrekit.trainer import TrainingArguments  # noqa: E402

LOCAL = "http://localhost"  # the Host allow-list answers localhost by default
SENTENCE = "add sabrina salerno to the grime instrumentals playlist"
# One torch thread: on a busy machine more threads make this tiny model 30x slower, not faster.
ARGS = TrainingArguments(
    epochs=25, batch_size=4, learning_rate=3e-3, head_learning_rate=1e-2, warmup_ratio=0.0, seed=3, threads=1
)


@pytest.fixture(scope="module")
def tiny_model(snips_mini, tiny_encoder, tmp_path_factory):
    """A tiny trained model, saved and loaded back as ``mrekit serve`` would."""
    import torch

    threads = torch.get_num_threads()
    out = tmp_path_factory.mktemp("serve-run")
    model = MREModel(mode="mre", encoder=tiny_encoder).fit(snips_mini, snips_mini, args=ARGS, output_dir=out)
    yield mrekit.load(model.save(out / "model"))
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def client(tiny_model):
    with TestClient(create_app(tiny_model, max_text_chars=200, max_batch=8, max_body_bytes=4000), base_url=LOCAL) as c:
        yield c


class FakeModel:
    """Labels each text with its upper-cased self; records batch sizes; optionally slow or failing."""

    def __init__(self, delay_s: float = 0.0, gate: threading.Event | None = None, fail: bool = False) -> None:
        self.delay_s, self.gate, self.fail = delay_s, gate, fail
        self.batch_sizes: list[int] = []

    def predict(self, texts: list[str]) -> list[Example]:
        self.batch_sizes.append(len(texts))
        if self.gate is not None:
            self.gate.wait(5)
        time.sleep(self.delay_s)
        if self.fail:
            raise RuntimeError("secret internal detail")
        return [
            Example(t, labels=[t.upper()], label_scores={t.upper(): 1.0}, spans=[Span(0, 1, "first", score=0.5)])
            for t in texts
        ]


# --- results on the real model ---------------------------------------------------------------


def test_one_text_gives_one_result_in_the_schema(client):
    response = client.post("/v1/extract", json={"text": SENTENCE})
    assert response.status_code == 200
    doc = response.json()
    assert doc["text"] == SENTENCE
    assert doc["labels"] == ["AddToPlaylist"]
    assert max(doc["label_scores"], key=doc["label_scores"].get) == "AddToPlaylist"
    assert [(s["text"], s["label"]) for s in doc["spans"]] == [
        ("sabrina salerno", "artist"),
        ("grime instrumentals", "playlist"),
    ]
    assert all(SENTENCE[s["start"] : s["end"]] == s["text"] and 0 < s["score"] <= 1 for s in doc["spans"])
    assert Example.from_dict(doc).labels == ["AddToPlaylist"]


def test_texts_give_results_in_order_equal_to_predict(client, tiny_model, snips_mini):
    texts = [ex.text for ex in snips_mini[:8]]
    response = client.post("/v1/extract", json={"texts": texts})
    assert response.status_code == 200
    results = response.json()["results"]
    expected = [ex.to_dict() for ex in tiny_model.predict(texts)]
    assert [r["text"] for r in results] == texts
    assert [(r["labels"], r["spans"]) for r in results] == [(e["labels"], e["spans"]) for e in expected]


def test_model_card(client, tiny_model):
    card = client.get("/v1/model").json()
    config = tiny_model.model_.config
    assert card["mode"] == "mre"
    assert card["text_labels"] == config.text_labels and "AddToPlaylist" in card["text_labels"]
    assert card["span_labels"] == config.span_labels and "artist" in card["span_labels"]
    assert card["versions"]["mrekit"] == mrekit.__version__
    assert card["limits"] == {
        "max_text_chars": 200,
        "max_batch": 8,
        "max_body_bytes": 4000,
        "timeout_s": 10.0,
        "batch_wait_ms": 5,
    }


def test_health_and_openapi(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/extract", "/v1/model", "/healthz"} <= set(paths)
    # /docs and /redoc load Swagger UI / ReDoc from a CDN: off unless asked for
    for page in ("/docs", "/redoc"):
        response = client.get(page)
        assert response.status_code == 404 and response.json()["error"]["code"] == "E310"


def test_docs_pages_only_when_asked_for():
    with TestClient(create_app(FakeModel(), docs=True), base_url=LOCAL) as c:
        assert c.get("/docs").status_code == 200 and c.get("/redoc").status_code == 200
        assert "content-security-policy" not in c.get("/docs").headers  # the CDN page would not run under it
        assert "content-security-policy" in c.get("/").headers


# --- attributes (ABSA polarity) ---------------------------------------------------------------


ABSA_TEXT = "The pizza was great but the waiter was rude."


def absa_prediction(text: str) -> Example:
    return Example(
        text,
        labels=["food", "service"],
        label_scores={"food": 0.93, "service": 0.81, "price": 0.05},
        label_attrs={"food": {"polarity": "positive"}, "service": {"polarity": "negative"}},
        label_attr_scores={
            "food": {"polarity": {"positive": 0.8, "negative": 0.15, "neutral": 0.05}},
            "service": {"polarity": {"negative": 0.7, "positive": 0.2, "neutral": 0.1}},
        },
        spans=[
            Span(4, 9, "aspect", attrs={"polarity": "positive"}, score=0.97,
                 attr_scores={"polarity": {"positive": 0.88, "negative": 0.07, "neutral": 0.05}}),
            Span(28, 34, "aspect", attrs={"polarity": "negative"}, score=0.9,
                 attr_scores={"polarity": {"negative": 0.91, "positive": 0.06, "neutral": 0.03}}),
            Span(14, 19, "opinion", score=0.6),
        ],
    )  # fmt: skip


class AbsaModel:
    def predict(self, texts: list[str]) -> list[Example]:
        return [absa_prediction(t) for t in texts]


def test_attributes_and_their_scores_are_in_the_json():
    with TestClient(create_app(AbsaModel()), base_url=LOCAL) as c:
        doc = c.post("/v1/extract", json={"text": ABSA_TEXT}).json()
        batch = c.post("/v1/extract", json={"texts": [ABSA_TEXT, ABSA_TEXT]}).json()
    assert doc == absa_prediction(ABSA_TEXT).to_dict() and batch["results"] == [doc, doc]
    pizza, waiter, great = doc["spans"]
    assert (pizza["text"], pizza["attrs"]) == ("pizza", {"polarity": "positive"})
    assert (waiter["text"], waiter["attrs"]) == ("waiter", {"polarity": "negative"})
    assert waiter["attr_scores"] == {"polarity": {"negative": 0.91, "positive": 0.06, "neutral": 0.03}}
    assert "attrs" not in great and "attr_scores" not in great  # no attributes: nothing added
    assert doc["label_attrs"] == {"food": {"polarity": "positive"}, "service": {"polarity": "negative"}}
    assert doc["label_attr_scores"]["service"]["polarity"]["negative"] == 0.7
    back = Example.from_dict(doc)
    assert back.spans[1].attrs == {"polarity": "negative"} and back.label_attr_scores == doc["label_attr_scores"]
    # the documented response model holds every field the server sends
    assert ExtractResult.model_validate(doc).model_dump(exclude_unset=True) == doc


def test_openapi_documents_the_attribute_fields():
    with TestClient(create_app(AbsaModel()), base_url=LOCAL) as c:
        schemas = c.get("/openapi.json").json()["components"]["schemas"]
    span, result = schemas["SpanResult"]["properties"], schemas["ExtractResult"]["properties"]
    assert {"start", "end", "label", "text", "score", "attrs", "attr_scores"} <= set(span)
    assert {"labels", "label_scores", "label_attrs", "label_attr_scores", "spans"} <= set(result)
    assert "polarity" in span["attrs"]["description"] and "probability" in span["attr_scores"]["description"]
    assert schemas["SpanResult"]["examples"][0]["attrs"] == {"polarity": "negative"}


# --- relations and events --------------------------------------------------------------------


RE_TEXT = "John Smith, a director at Acme Corp, took aspirin and developed a rash."


def structures_prediction(text: str) -> Example:
    def span(surface: str, label: str) -> Span:
        start = text.index(surface)
        return Span(start, start + len(surface), label, score=0.9)

    return Example(
        text,
        id="doc-7",
        spans=[span("John Smith", "Peop"), span("Acme Corp", "Org"), span("aspirin", "Drug"),
               span("developed", "Trigger"), span("rash", "Effect")],
        relations=[Relation(0, 1, "Work_For", score=0.91), Relation(2, 4, "Adverse_Effect")],
        events=[Event(3, "Adverse_event", (("Subject", 0), ("Treatment", 2))), Event(3, "Potential_therapeutic_event")],
        meta={"inconsistent_relations": [1], "inconsistent_arguments": [[0, 1]]},
    )  # fmt: skip


class StructuresModel:
    def predict(self, texts: list[str]) -> list[Example]:
        return [structures_prediction(t) for t in texts]


def test_relations_and_events_are_in_the_json_and_the_schema():
    with TestClient(create_app(StructuresModel()), base_url=LOCAL) as c:
        doc = c.post("/v1/extract", json={"text": RE_TEXT}).json()
        batch = c.post("/v1/extract", json={"texts": [RE_TEXT]}).json()
    assert doc == structures_prediction(RE_TEXT).to_dict() and batch["results"] == [doc]
    assert doc["id"] == "doc-7"
    assert doc["relations"] == [
        {"head": 0, "tail": 1, "label": "Work_For", "score": 0.91},
        {"head": 2, "tail": 4, "label": "Adverse_Effect"},  # no score: none sent
    ]
    assert doc["events"] == [
        {"trigger": 3, "type": "Adverse_event", "args": [["Subject", 0], ["Treatment", 2]]},
        {"trigger": 3, "type": "Potential_therapeutic_event", "args": []},
    ]
    assert doc["meta"] == {"inconsistent_relations": [1], "inconsistent_arguments": [[0, 1]]}
    # the documented response model holds every field the server sends, and adds none
    validated = ExtractResult.model_validate(doc)
    assert validated.model_dump(mode="json", exclude_unset=True) == doc
    assert validated.events[0].args == [("Subject", 0), ("Treatment", 2)]
    assert validated.relations[1].score is None
    # texts without relations or events: the fields stay omitted
    plain = ExtractResult.model_validate({"text": "hi", "spans": []})
    assert plain.model_dump(mode="json", exclude_unset=True) == {"text": "hi", "spans": []}


def test_openapi_documents_relations_and_events():
    with TestClient(create_app(StructuresModel()), base_url=LOCAL) as c:
        schemas = c.get("/openapi.json").json()["components"]["schemas"]
    result = schemas["ExtractResult"]["properties"]
    assert {"id", "relations", "events", "meta"} <= set(result)
    assert result["relations"]["items"] == {"$ref": "#/components/schemas/RelationResult"}
    assert result["events"]["items"] == {"$ref": "#/components/schemas/EventResult"}
    assert "inconsistent_arguments" in result["meta"]["description"]
    relation, event = schemas["RelationResult"], schemas["EventResult"]
    assert set(relation["required"]) == {"head", "tail", "label"}
    assert all(relation["properties"][name].get("description") for name in ("head", "tail", "label", "score"))
    assert set(event["required"]) == {"trigger", "type"} and "role" in event["properties"]["args"]["description"]
    assert event["examples"][0]["args"] == [["Subject", 0], ["Treatment", 3]]


# --- request errors --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"texts": []}, "texts", "at least one"),
        ({"texts": ["a"] * 9}, "texts", "9 texts, more than the limit of 8"),
        ({"texts": ["a", "b", "c", "x" * 201]}, "texts[3]", "201 characters, more than the limit of 200"),
        ({"text": "x" * 201}, "text", "more than the limit of 200"),
        ({"text": ""}, "text", "empty"),
        ({"text": " \t\n "}, "text", "empty"),
        ({"texts": ["ok", "   "]}, "texts[1]", "empty"),
        ({}, "body", "exactly one of 'text'"),
        ({"text": "a", "texts": ["b"]}, "body", "exactly one of 'text'"),
        ({"txt": "a"}, "txt", "not permitted"),
        ({"text": 3}, "text", "valid string"),
        ({"texts": ["ok", 5]}, "texts[1]", "valid string"),
    ],
)
def test_invalid_requests_are_422_naming_the_field(client, body, field, words):
    response = client.post("/v1/extract", json=body)
    assert response.status_code == 422
    error = response.json()
    assert error["error"]["type"] == "validation_error"
    assert error["error"]["code"] == "E300"
    assert error["error"]["field"] == field
    assert words in error["error"]["message"] and error["error"]["message"].startswith(f"{field}: ")
    assert any(d["field"] == field and "loc" in d and words in d["msg"] for d in error["detail"])


def test_long_text_error_keeps_fastapis_loc(client):
    detail = client.post("/v1/extract", json={"texts": ["a", "x" * 201]}).json()["detail"]
    assert detail == [
        {
            "loc": ["body", "texts", 1],
            "msg": "text has 201 characters, more than the limit of 200",
            "type": "string_too_long",
            "field": "texts[1]",
            "code": "E300",
        }
    ]


def test_malformed_json_is_422(client):
    response = client.post("/v1/extract", content=b'{"text": ', headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "E302" and response.json()["error"]["field"] == "body"
    assert "not valid JSON" in response.json()["error"]["message"]


def test_declared_body_over_the_limit_is_413(client):
    body = b'{"text": "' + b"a" * 5000 + b'"}'
    response = client.post("/v1/extract", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.json()["error"] == {
        "type": "payload_too_large",
        "code": "E305",
        "message": "request body is larger than the limit of 4000 bytes",
        "field": None,
    }


def test_streamed_body_over_the_limit_is_413_without_content_length():
    app = create_app(FakeModel(), max_body_bytes=1000)

    async def chunks():
        yield b'{"text": "'
        for _ in range(20):
            yield b"a" * 100
        yield b'"}'

    async def main():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as http:
            request = http.build_request("POST", "/v1/extract", content=chunks())
            assert "content-length" not in request.headers
            return await http.send(request)

    response = asyncio.run(main())
    assert response.status_code == 413
    assert response.json()["error"]["type"] == "payload_too_large"


def test_non_numeric_content_length_is_400():
    with TestClient(create_app(FakeModel()), base_url=LOCAL) as c:
        response = c.post("/v1/extract", content=b'{"text": "a"}', headers={"Content-Length": "lots"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "E302"


# --- fake models: batching, timeouts, failures, shutdown ------------------------------------


def test_concurrent_requests_are_batched_and_answered_correctly():
    model = FakeModel(delay_s=0.02)
    app = create_app(model, max_batch=64, batch_wait_ms=20)

    async def main():
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as http:
                return await asyncio.gather(*(http.post("/v1/extract", json={"text": f"text {i}"}) for i in range(20)))

    responses = asyncio.run(main())
    assert [r.status_code for r in responses] == [200] * 20
    assert [r.json()["labels"] for r in responses] == [[f"TEXT {i}"] for i in range(20)]
    assert sum(model.batch_sizes) == 20
    assert max(model.batch_sizes) > 1
    assert app.state.batcher.batch_sizes == model.batch_sizes


def test_slow_prediction_is_504():
    gate = threading.Event()
    app = create_app(FakeModel(gate=gate), timeout_s=0.1)
    try:
        with TestClient(app, base_url=LOCAL) as c:
            response = c.post("/v1/extract", json={"text": "slow"})
            gate.set()
    finally:
        gate.set()
    assert response.status_code == 504
    assert response.json()["error"] == {
        "type": "timeout",
        "code": "E306",
        "message": "prediction took longer than 0.1 s",
        "field": None,
    }


def test_model_failure_is_500_without_internals():
    with TestClient(create_app(FakeModel(fail=True)), base_url=LOCAL) as c:
        response = c.post("/v1/extract", json={"text": "x"})
    assert response.status_code == 500
    assert response.json()["error"]["type"] == "internal"
    assert response.json()["error"]["code"] == "E308" and response.json()["error"]["field"] == "text"
    assert "secret" not in response.text


def test_shutdown_finishes_requests_in_flight_then_refuses():
    model = FakeModel(delay_s=0.03)
    app = create_app(model, max_batch=2, batch_wait_ms=0)

    async def main():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as http:
            async with app.router.lifespan_context(app):
                tasks = [asyncio.create_task(http.post("/v1/extract", json={"text": f"t{i}"})) for i in range(6)]
                await asyncio.sleep(0.02)  # requests queued or in the model when shutdown begins
            # the lifespan has ended: the batcher drained the queue
            answered = await asyncio.gather(*tasks)
            late = await http.post("/v1/extract", json={"text": "late"})
        return answered, late

    answered, late = asyncio.run(main())
    assert [r.json()["labels"] for r in answered] == [[f"T{i}"] for i in range(6)]
    assert late.status_code == 503 and late.json()["error"]["type"] == "unavailable"
    assert late.json()["error"]["code"] == "E307"


def test_model_card_of_a_model_without_config():
    with TestClient(create_app(FakeModel()), base_url=LOCAL) as c:
        card = c.get("/v1/model").json()
    assert card["text_labels"] == [] and card["span_labels"] == [] and card["versions"] == {}


# --- the demo page ---------------------------------------------------------------------------


def test_page_is_served_with_its_local_assets(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert "static/app.js" in assets and "static/style.css" in assets
    for asset in (a for a in assets if a.startswith("static/")):
        assert client.get("/" + asset).status_code == 200
    assert client.get("/static/app.js").headers["content-type"].split(";")[0] in (
        "text/javascript",
        "application/javascript",
    )


@pytest.mark.parametrize("name", ["index.html", "app.js", "style.css"])
def test_page_uses_no_external_resources(name):
    text = (Path(STATIC) / name).read_text(encoding="utf-8")
    assert "http://" not in text and "https://" not in text
    assert not re.search(r'(?:src|href)="//', text)  # nor protocol-relative URLs
    assert "@import" not in text
