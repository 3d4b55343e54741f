// The mrekit demo page: POST the text to v1/extract, show the label banner,
// the text with its spans highlighted (displaCy style), the relations and
// events between those spans, and the raw JSON.
// Self-contained on purpose: no libraries, no external requests.
"use strict";

(function () {
  const form = document.getElementById("extract-form");
  const input = document.getElementById("text-input");
  const button = document.getElementById("extract-button");
  const status = document.getElementById("status");
  const errorBox = document.getElementById("error");
  const result = document.getElementById("result");
  const banner = document.getElementById("labels-banner");
  const rendered = document.getElementById("rendered");
  const notes = document.getElementById("notes");
  const structures = document.getElementById("structures");
  const relationBox = document.getElementById("relations");
  const relationList = document.getElementById("relation-list");
  const eventBox = document.getElementById("events");
  const eventList = document.getElementById("event-list");
  const rawJson = document.getElementById("raw-json");

  // The same type always gets the same colour, across texts and page loads.
  function colourFor(type) {
    let hash = 0x811c9dc5; // FNV-1a
    for (let i = 0; i < type.length; i++) {
      hash ^= type.charCodeAt(i);
      hash = Math.imul(hash, 0x01000193) >>> 0;
    }
    return "hsl(" + (hash % 360) + ", 78%, 82%)";
  }

  function formatScore(score) {
    return typeof score === "number" ? (100 * score).toFixed(1) + "%" : "";
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // One badge per attribute ("negative"); polarity values get their own colour.
  // The title names the attribute, the value and the model's probability of it.
  const POLARITIES = ["positive", "negative", "neutral"];
  function attrBadges(attrs, attrScores) {
    return Object.entries(attrs || {})
      .filter(([, value]) => value !== null && value !== undefined)
      .map(([name, value]) => {
        const text = typeof value === "string" ? value : JSON.stringify(value);
        const badge = el("span", "attr", text);
        badge.dataset.attr = name;
        if (name === "polarity") {
          badge.classList.add("polarity-" + (POLARITIES.includes(text) ? text : "other"));
        }
        const score = ((attrScores || {})[name] || {})[text];
        badge.title = name + ": " + text + (typeof score === "number" ? " · " + formatScore(score) : "");
        return badge;
      });
  }

  function showBanner(doc) {
    banner.replaceChildren();
    const scores = doc.label_scores || {};
    const labels = doc.labels || [];
    const attrs = doc.label_attrs || {};
    const attrScores = doc.label_attr_scores || {};
    if (labels.length === 0) {
      banner.append(el("span", "text-label none", "no text label"));
    }
    for (const label of labels) {
      const item = el("span", "predicted");
      item.append(el("span", "text-label", label));
      if (label in scores) item.append(" ", el("span", "text-score", formatScore(scores[label])));
      item.append(...attrBadges(attrs[label], attrScores[label]));
      banner.append(item);
    }
    const others = Object.entries(scores)
      .filter(([label]) => !labels.includes(label))
      .sort((a, b) => b[1] - a[1])
      .slice(0, 4);
    if (others.length) {
      const line = el("div", "others");
      for (const [label, score] of others) line.append(el("span", "", label + " " + formatScore(score)));
      banner.append(line);
    }
  }

  // Offsets count code points (as Python does); JavaScript strings index UTF-16
  // units, so a character outside the BMP (𠮷, an emoji) would shift every cut.
  function cutter(text) {
    const chars = Array.from(text);
    return (a, b) => chars.slice(a, b).join("");
  }

  // Spans are character offsets (end exclusive); overlapping ones after the
  // first are left out of the picture (they are still in the raw JSON, and in
  // the relation and event rows that use them).
  function showSpans(doc) {
    rendered.replaceChildren();
    const cut = cutter(doc.text);
    const inconsistent = new Set((doc.meta && doc.meta.inconsistent_spans) || []);
    const spans = (doc.spans || [])
      .map((span, index) => Object.assign({ index: index }, span))
      .sort((a, b) => a.start - b.start || b.end - a.end);
    let cursor = 0;
    let hidden = 0;
    for (const span of spans) {
      if (span.start < cursor) { hidden++; continue; }
      if (span.start > cursor) rendered.append(cut(cursor, span.start));
      const mark = el("mark", "entity");
      mark.style.background = colourFor(span.label);
      mark.dataset.label = span.label;
      mark.dataset.span = span.index; // relation and event rows find their marks by it
      if (inconsistent.has(span.index)) mark.classList.add("inconsistent");
      mark.title = span.label + (typeof span.score === "number" ? " · score " + span.score.toFixed(3) : "")
        + (inconsistent.has(span.index) ? " · never seen with this text label in training" : "");
      mark.append(el("span", "entity-text", cut(span.start, span.end)));
      mark.append(el("span", "entity-label", span.label));
      mark.append(...attrBadges(span.attrs, span.attr_scores));
      rendered.append(mark);
      cursor = span.end;
    }
    const rest = cut(cursor);
    if (rest) rendered.append(rest);
    const lines = [];
    if (!doc.spans || doc.spans.length === 0) lines.push("No spans found.");
    if (hidden) lines.push(hidden + " overlapping span(s) are only in the raw JSON.");
    if (doc.meta && doc.meta.truncated) lines.push("The text was truncated at the model's max_length.");
    notes.textContent = lines.join(" ");
  }

  // A span by its index, as a chip coloured like its mark; `prefix` ("role: ")
  // goes inside the chip. Spans hidden by an overlap have no mark but a chip.
  function spanChip(doc, index, cut, prefix) {
    const span = (doc.spans || [])[index];
    const chip = el("span", "chip", prefix || "");
    if (!span) {
      chip.classList.add("missing");
      chip.append("span #" + index);
      return chip;
    }
    chip.style.background = colourFor(span.label);
    chip.dataset.label = span.label;
    chip.append(cut(span.start, span.end));
    return chip;
  }

  function labelOf(doc, index) {
    const span = (doc.spans || [])[index];
    return span ? span.label : "?";
  }

  // Hovering (or focusing) a row outlines the marks of the spans it involves.
  function linkRow(row, indices) {
    row.tabIndex = 0;
    const toggle = (on) => rendered.querySelectorAll("mark.entity").forEach((mark) => {
      if (indices.includes(Number(mark.dataset.span))) mark.classList.toggle("linked", on);
    });
    row.addEventListener("mouseenter", () => toggle(true));
    row.addEventListener("mouseleave", () => toggle(false));
    row.addEventListener("focus", () => toggle(true));
    row.addEventListener("blur", () => toggle(false));
  }

  // Below the text: one row per relation (head → label → tail) and per event
  // (type, trigger, "role: argument" chips). Hidden when there are none.
  function showStructures(doc) {
    const cut = cutter(doc.text);
    const meta = doc.meta || {};
    const relations = doc.relations || [];
    const events = doc.events || [];
    const oddRelations = new Set(meta.inconsistent_relations || []);
    const oddArguments = new Set((meta.inconsistent_arguments || []).map((pair) => pair.join(":")));
    relationList.replaceChildren();
    eventList.replaceChildren();

    relations.forEach((rel, index) => {
      const row = el("li", "relation");
      row.append(spanChip(doc, rel.head, cut), " → ", el("span", "rel-label", rel.label), " → ",
        spanChip(doc, rel.tail, cut));
      row.title = rel.label + ": " + labelOf(doc, rel.head) + " → " + labelOf(doc, rel.tail)
        + (typeof rel.score === "number" ? " · score " + rel.score.toFixed(3) : "");
      if (oddRelations.has(index)) {
        row.classList.add("inconsistent");
        row.title += " · these span types were never seen with this relation in training";
      }
      linkRow(row, [rel.head, rel.tail]);
      relationList.append(row);
    });

    events.forEach((event, index) => {
      const row = el("li", "event");
      const trigger = spanChip(doc, event.trigger, cut);
      trigger.classList.add("trigger");
      row.append(el("span", "event-type", event.type), " ", trigger);
      row.title = event.type + " · trigger " + labelOf(doc, event.trigger);
      (event.args || []).forEach(([role, arg], k) => {
        const chip = spanChip(doc, arg, cut, role + ": ");
        chip.classList.add("arg");
        chip.title = role + ": " + labelOf(doc, arg);
        if (oddArguments.has(index + ":" + k)) {
          chip.classList.add("inconsistent");
          chip.title += " · these span types were never seen with this role in training";
        }
        row.append(" ", chip);
      });
      linkRow(row, [event.trigger, ...(event.args || []).map((pair) => pair[1])]);
      eventList.append(row);
    });

    relationBox.hidden = relations.length === 0;
    eventBox.hidden = events.length === 0;
    structures.hidden = relations.length === 0 && events.length === 0;
  }

  function showError(message) {
    errorBox.textContent = message;
    errorBox.hidden = false;
  }

  function errorMessage(status, body) {
    if (body && body.error && body.error.message) return "Error " + status + ": " + body.error.message;
    return "Error " + status + ": the server did not say why.";
  }

  async function extract(text) {
    errorBox.hidden = true;
    button.disabled = true;
    status.textContent = "Extracting…";
    const started = performance.now();
    try {
      const response = await fetch("v1/extract", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ text: text }),
      });
      const body = await response.json().catch(() => null);
      if (!response.ok) {
        showError(errorMessage(response.status, body));
        status.textContent = "";
        return;
      }
      showBanner(body);
      showSpans(body);
      showStructures(body);
      rawJson.textContent = JSON.stringify(body, null, 2);
      result.hidden = false;
      status.textContent = Math.round(performance.now() - started) + " ms";
    } catch (err) {
      showError("Could not reach the server: " + err);
      status.textContent = "";
    } finally {
      button.disabled = false;
    }
  }

  async function showModelInfo() {
    try {
      const response = await fetch("v1/model");
      if (!response.ok) return;
      const info = await response.json();
      const parts = [];
      if (info.mode) parts.push("mode " + info.mode);
      parts.push(info.text_labels.length + " text labels", info.span_labels.length + " span types");
      if (info.versions && info.versions.mrekit) parts.push("mrekit " + info.versions.mrekit);
      document.getElementById("model-info").textContent = "Model: " + parts.join(" · ");
    } catch (err) {
      // The card is decoration; the page works without it.
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value.trim() ? input.value : input.placeholder;
    if (!input.value.trim()) input.value = text;
    extract(text);
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) form.requestSubmit();
  });
  showModelInfo();
})();
