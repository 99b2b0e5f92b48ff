"""The documented contract (docs/contract.md) agrees with the table specs it describes, and the
docs stand on their own in a clone (no links outside the repository)."""
from __future__ import annotations

import re

import pytest

from data_quality.suite import SUITE
from lakehouse.config import load_config
from lakehouse.contract import TABLES, schema_columns

from conftest import REPO

CONTRACT = (REPO / "docs" / "contract.md").read_text(encoding="utf-8")


def section(title_start: str) -> str:
    start = CONTRACT.index(f"### `{title_start}`")
    end = CONTRACT.find("\n### ", start + 1)
    return CONTRACT[start:end if end > 0 else None]


@pytest.mark.parametrize("table", list(TABLES))
def test_every_silver_column_and_type_is_documented_in_order(table):
    documented = re.findall(r"^\| `(\w+)` \| ([a-z0-9(),]+) \|$", section(table), flags=re.MULTILINE)
    assert documented == schema_columns(TABLES[table].silver_schema)


@pytest.mark.parametrize("table", list(TABLES))
def test_the_reject_rules_table_lists_each_tables_reasons_in_its_order(table):
    rows = re.findall(r"^\| \d \| `(\w+)` \|", CONTRACT, flags=re.MULTILINE)
    assert [r for r in rows if r in TABLES[table].reasons] == list(TABLES[table].reasons)


def test_every_data_quality_check_is_documented():
    cfg = load_config(profile="tiny")
    names = {c.name for checks in SUITE.values() for c in checks(cfg)}
    table_part = CONTRACT[CONTRACT.index("## 4. Data quality"):CONTRACT.index("## 5. Gold")]
    undocumented = [n for n in sorted(names) if f"`{n}`" not in table_part
                    and not (n.endswith("_not_null") and "`<column>_not_null`" in table_part)
                    and not (n.endswith("_unique") and "`<key>_unique`" in table_part)]
    assert undocumented == []


def test_readme_and_docs_link_nothing_outside_the_repository():
    for doc in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        text = doc.read_text(encoding="utf-8")
        assert "shared/" not in text and "](../" not in text.replace("](../lakehouse", ""), doc.name
