"""The one-table-per-fact registries: quantities, groups, pages and RunConfig's field facts are
complete, consistent with each other, and what README shows."""

import dataclasses
import importlib
import pathlib
import re

from dashboard import pages
from dashboard.content import glossary
from eos_core import quantities
from eos_core.config import KNOBS, RunConfig
from eos_core.groups import COLOURS, GROUPS, LABELS

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_every_quantity_names_a_function_that_exists():
    for q in quantities.QUANTITIES.values():
        module, function = q.computed_by.split(":")
        assert callable(getattr(importlib.import_module(module), function)), q.key


def test_every_quantity_is_a_glossary_term_with_its_symbol():
    for q in quantities.QUANTITIES.values():
        assert glossary.TERMS[q.key].symbol == q.symbol
        assert len(q.text) > 20 and q.unit and q.name


def test_stored_columns_are_unique_per_table():
    for table in (
        quantities.TRACE,
        quantities.GROUP,
        quantities.EVERY_STEP,
        quantities.TRACKED,
        quantities.TRACKED_GROUP,
        quantities.VALLEY,
        quantities.VALLEY_ITERATES,
    ):
        columns = quantities.columns(table)
        assert len(columns) == len(set(columns)), table


def test_readme_table_of_quantities_is_generated_from_the_table():
    text = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- quantities:begin -->\n(.*?)\n<!-- quantities:end -->", text, re.S)
    assert block, "README lacks the quantities block"
    assert block.group(1).strip() == quantities.markdown_table(), (
        "README's table is stale: run `python scripts/update_readme.py`"
    )


def test_every_page_file_has_one_registry_row_and_back():
    files = {p.stem for p in (ROOT / "dashboard" / "app_pages").glob("*.py")}
    assert files == set(pages.BY_KEY)
    assert sum(p.default for p in pages.PAGES) == 1


def test_every_page_term_is_in_the_glossary():
    for p in pages.PAGES:
        for key in pages.terms(p.key):
            assert key in glossary.TERMS, (p.key, key)


def test_each_group_has_a_label_and_a_distinct_colour():
    assert set(LABELS) == set(COLOURS) == set(GROUPS)
    assert len(set(COLOURS.values())) == len(GROUPS)


def test_every_config_field_has_its_facts_and_bounded_fields_refuse_outside_them():
    assert set(KNOBS) == {f.name for f in dataclasses.fields(RunConfig)}
    assert all(len(k.help) > 10 for k in KNOBS.values())
    for name, knob in KNOBS.items():
        if knob.low is not None and knob.low_open:
            assert not knob.contains(knob.low) and knob.contains(knob.low + 1e-9), name
        if knob.high is not None and knob.high_open:
            assert not knob.contains(knob.high) and knob.contains(knob.high - 1e-9), name
