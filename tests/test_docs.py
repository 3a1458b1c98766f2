"""The documentation site works offline: no script, stylesheet or font from the network."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MKDOCS = (ROOT / "mkdocs.yml").read_text()


def test_site_loads_nothing_from_the_network():
    assert re.search(r"^  font: false", MKDOCS, re.M), "theme fonts would come from Google"
    remote = [line for line in MKDOCS.splitlines()
              if re.search(r"https?://", line) and not line.lstrip().startswith("#")]
    assert remote == []
    for script in re.findall(r"^extra_javascript:\n((?:  - .*\n)+)", MKDOCS, re.M)[0].split():
        assert script == "-" or (ROOT / "docs" / script).is_file(), script


def test_mathjax_is_bundled_with_its_fonts_and_licence():
    vendor = ROOT / "docs" / "vendor" / "mathjax"
    assert (vendor / "LICENSE").is_file()
    fonts = {p.name for p in (vendor / "output" / "chtml" / "fonts" / "woff-v2").glob("*.woff")}
    assert {"MathJax_Main-Regular.woff", "MathJax_Math-Italic.woff",
            "MathJax_AMS-Regular.woff"} <= fonts
