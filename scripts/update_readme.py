"""Rewrite README's generated table of quantities from eos_core.quantities (its test says when)."""

import pathlib
import re

from eos_core.quantities import markdown_table

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"
BLOCK = re.compile(r"(<!-- quantities:begin -->\n).*?(\n<!-- quantities:end -->)", re.S)

text = README.read_text()
if not BLOCK.search(text):
    raise SystemExit("README.md has no <!-- quantities:begin --> … <!-- quantities:end --> block")
README.write_text(BLOCK.sub(lambda m: m.group(1) + markdown_table() + m.group(2), text))
