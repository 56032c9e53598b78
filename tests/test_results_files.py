"""The result files under experiments/results all parse, and the generated docs are up to date.

Fast (no JAX): json/jsonl/yaml/csv by their parsers, PNG by its chunk structure and CRCs, GIF
by decoding every frame, text files as UTF-8; then ``python experiments/report.py --check``.
"""
from __future__ import annotations

import csv
import io
import json
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "experiments" / "results"
FILES = sorted(p for p in RESULTS.rglob("*") if p.is_file())
TEXT = {".md", ".txt"}


def check_png(data: bytes) -> None:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "no PNG signature"
    pos, kinds = 8, []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        assert len(body) == length, f"chunk {kind!r} truncated"
        assert zlib.crc32(kind + body) & 0xFFFFFFFF == crc, f"chunk {kind!r}: bad CRC"
        kinds.append(kind)
        pos += 12 + length
    assert kinds[0] == b"IHDR" and kinds[-1] == b"IEND", "missing IHDR or IEND"
    zlib.decompress(b"".join(_idat(data)))  # the image data inflates


def check_gif(data: bytes) -> None:
    from PIL import Image, ImageSequence

    assert data[:6] in (b"GIF87a", b"GIF89a"), "no GIF signature"
    with Image.open(io.BytesIO(data)) as im:
        frames = [frame.convert("RGB").size for frame in ImageSequence.Iterator(im)]
    assert len(frames) > 1 and len(set(frames)) == 1, "an animation of equal frames"


def _idat(data: bytes):
    pos = 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        if data[pos + 4:pos + 8] == b"IDAT":
            yield data[pos + 8:pos + 8 + length]
        pos += 12 + length


def test_results_exist():
    assert FILES, f"no files under {RESULTS}"


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(RESULTS)))
def test_result_file_parses(path: Path):
    ext = path.suffix.lower()
    data = path.read_bytes()
    if ext == ".png":
        check_png(data)
        return
    if ext == ".gif":
        check_gif(data)
        return
    text = data.decode("utf-8")
    if ext == ".json":
        json.loads(text)
    elif ext == ".jsonl":
        rows = [json.loads(line) for line in text.splitlines() if line.strip()]
        assert rows, "empty jsonl"
    elif ext in (".yaml", ".yml"):
        yaml.safe_load(text)
    elif ext == ".csv":
        rows = list(csv.reader(io.StringIO(text)))
        assert rows and len({len(r) for r in rows}) == 1, "ragged csv"
    elif ext in TEXT:
        assert text.strip(), "empty file"
    else:
        pytest.fail(f"unexpected file type {ext!r} under experiments/results")


def test_docs_up_to_date():
    p = subprocess.run([sys.executable, str(ROOT / "experiments" / "report.py"), "--check"],
                       check=False, capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert p.returncode == 0, (
        "docs/results.md, docs/benchmarks.md or README.md's report blocks are out of date; run "
        "`python experiments/report.py`\n" + p.stdout[-3000:] + p.stderr[-2000:])
