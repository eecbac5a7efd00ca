"""The data inventory covers every stored column, and its claims match the schema."""

from __future__ import annotations

from sqlalchemy import LargeBinary

from salon.storage.inventory import INVENTORY, Protection, render_markdown
from salon.storage.models import Base


def _columns() -> dict[str, object]:
    return {
        f"{table.name}.{column.name}": column
        for table in Base.metadata.sorted_tables
        for column in table.columns
    }


def test_every_column_is_classified():
    classified = {item.column for item in INVENTORY}
    unclassified = sorted(set(_columns()) - classified)
    assert unclassified == [], f"add these columns to salon.storage.inventory: {unclassified}"


def test_inventory_names_only_real_columns():
    stale = sorted({item.column for item in INVENTORY} - set(_columns()))
    assert stale == []


def test_ciphertext_columns_are_binary_and_declared():
    columns = _columns()
    for item in INVENTORY:
        column = columns[item.column]
        if item.column.endswith("_enc"):
            assert item.protection is Protection.ORG_KEY, item.column
        if item.protection is not Protection.PLAIN:
            assert isinstance(column.type, LargeBinary), item.column  # type: ignore[attr-defined]


def test_personal_data_is_never_plain():
    exposed = [i.column for i in INVENTORY if i.personal and i.readable_without_keys]
    assert exposed == []


def test_no_column_can_hold_an_ip_address():
    words = {"ip", "addr", "address", "agent", "useragent", "remote"}
    suspicious = [name for name in _columns() if words & set(name.replace(".", "_").split("_"))]
    assert suspicious == []


def test_markdown_lists_every_column():
    text = render_markdown()
    for item in INVENTORY:
        assert f"`{item.column}`" in text
    assert "Never stored: IP addresses" in text
