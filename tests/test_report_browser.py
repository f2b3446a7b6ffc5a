"""The HTML report in a real headless Chromium: it renders, has a row per cell, draws charts.

Chromium runs with networking off and a throwaway profile; the screenshot is decoded here
(stdlib zlib) and its pixels counted, so "a chart is drawn" means painted, not just in the DOM.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from lrmatrix.cli.main import main
from prereqs import needs

DATA = Path(__file__).parent / "data"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.browser,
    needs(None if CHROMIUM else "chromium is not installed (apt-get install chromium)"),
]

OK_RGB, FAILED_RGB = (0x2E, 0x7D, 0x32), (0xC6, 0x28, 0x28)  # report/svg.py OK and FAILED


def chromium(profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--host-resolver-rules=MAP * ~NOTFOUND",  # a report that fetches anything gets nothing
        f"--user-data-dir={profile}",
        *args,
    ]
    env = {**os.environ, "HOME": str(profile)}
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False, env=env)


def png_pixels(path: Path) -> tuple[int, int, list[bytes]]:
    """Width, height and rows of RGB(A) bytes of an 8-bit non-interlaced PNG (what Chromium writes)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        header = body if kind == b"IHDR" else header
        idat += body if kind == b"IDAT" else b""
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and colour in (2, 6) and interlace == 0
    bpp = 3 if colour == 2 else 4
    raw, stride, rows, prev = zlib.decompress(idat), width * bpp, [], bytearray(width * bpp)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            predictor = {
                0: 0,
                1: a,
                2: b,
                3: (a + b) // 2,
                4: a if pa <= pb and pa <= pc else (b if pb <= pc else c),
            }
            line[i] = (line[i] + predictor[kind]) & 0xFF
        rows.append(bytes(line))
        prev = line
    return width, bpp, rows


def count(rows: list[bytes], bpp: int, rgb: tuple[int, int, int]) -> int:
    target = bytes(rgb)
    return sum(1 for row in rows for i in range(0, len(row), bpp) if row[i : i + 3] == target)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report") / "report.html"
    cwd = Path.cwd()
    os.chdir(Path(__file__).parent.parent)  # the matrix's cells, including those without a result
    try:
        assert main(["report", str(DATA / "run-a"), "--format", "html", "--output", str(out)]) == 0
    finally:
        os.chdir(cwd)
    return out


def test_page_renders_with_a_row_per_cell_and_a_chart_per_result(report, tmp_path):
    from lrmatrix.matrix.cells import load_matrix

    proc = chromium(tmp_path / "profile", "--dump-dom", report.as_uri())
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = proc.stdout
    assert "<title>lrmatrix report</title>" in dom
    # every cell of the matrix, but a scenario cell only with a result (docs/scenarios.md lists them)
    cells = [c.name for c in load_matrix(Path(__file__).parent.parent / "matrix").cells if c.scenario is None]
    assert re.findall(r'<tr data-cell="([^"]+)"', dom) == cells
    assert dom.count("<svg") == 2  # the two engine cells ran; the others show "not run"
    assert dom.count('class="span-failed"') >= 2 and dom.count('class="down"') == 2


def test_screenshot_shows_answered_and_failed_requests(report, tmp_path):
    shot = tmp_path / "shot.png"
    proc = chromium(
        tmp_path / "profile",
        "--hide-scrollbars",
        "--window-size=1100,4000",
        f"--screenshot={shot}",
        report.as_uri(),
    )
    assert proc.returncode == 0 and shot.exists(), proc.stderr[-2000:]
    width, bpp, rows = png_pixels(shot)
    assert width == 1100
    # lanes are 22 px tall: thousands of pixels of each colour, only if the charts were painted
    assert count(rows, bpp, OK_RGB) > 5000
    assert count(rows, bpp, FAILED_RGB) > 5000
