"""SQL text of the sink's statements: quoted identifiers and multi-row INSERT/REPLACE/upsert."""

from __future__ import annotations

from collections.abc import Sequence


def quote(name: str) -> str:
    """`name` as a quoted identifier; `db.table` is quoted part by part."""
    return ".".join("`" + part.replace("`", "``") + "`" for part in name.split("."))


def quote_column(name: str) -> str:
    """A column name as a quoted identifier (a dot is part of the name)."""
    return "`" + name.replace("`", "``") + "`"


def insert_statement(
    table: str, columns: Sequence[str], mode: str, update_columns: Sequence[str] = ()
) -> str:
    """`INSERT`/`REPLACE INTO table (cols) VALUES (%s, …)` [ON DUPLICATE KEY UPDATE …].

    aiomysql's `executemany` turns it into multi-row statements. Its prefix is %-formatted
    (with no arguments) by aiomysql, so a `%` in a name is doubled there; the suffix is not.
    """
    verb = "REPLACE" if mode == "replace" else "INSERT"
    names = ", ".join(quote_column(c) for c in columns).replace("%", "%%")
    placeholders = ", ".join(["%s"] * len(columns))
    sql = f"{verb} INTO {quote(table).replace('%', '%%')} ({names}) VALUES ({placeholders})"
    if mode == "upsert":
        updated = list(update_columns) or list(columns)
        sets = ", ".join(f"{quote_column(c)} = VALUES({quote_column(c)})" for c in updated)
        sql += f" ON DUPLICATE KEY UPDATE {sets}"
    return sql
