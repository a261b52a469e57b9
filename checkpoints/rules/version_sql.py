"""A version's SQL as PostgreSQL reads it: split and classified by its own parser.

`statements` parses the whole submission with libpg_query (through `pglast`), the parser
of PostgreSQL itself, so a comment, a dollar-quoted body or a string holding `;` never
fools the split, and a statement is recognised by what it is, not by how it begins. The
worker runs the statements one by one inside a single transaction that it commits only
when every one succeeded; that is what makes "nothing was applied" true. It stays true
only if no statement can end or split that transaction, so every transaction-control
statement (BEGIN, COMMIT [AND CHAIN], END, ROLLBACK [TO], ABORT, SAVEPOINT, RELEASE,
PREPARE TRANSACTION, COMMIT/ROLLBACK PREPARED) is refused before anything runs.
Procedures and DO blocks cannot commit either: PostgreSQL refuses COMMIT inside them
while a transaction block is open, which the worker's always is.

This module knows no Django; the services turn `SqlRefused` into their own refusal.
"""

from __future__ import annotations

import json

from pglast import parser

TRANSACTION_CONTROL = (
    "Statement {number} controls the transaction ({keyword}): the SQL already runs in one "
    "transaction, committed only if every statement succeeds. Remove it; nothing was applied.\n"
    "Statement {number}: {statement}"
)
SYNTAX_ERROR = (
    "Statement {number} has a syntax error at line {line}, column {column}: {error}. "
    "Nothing was applied.\nStatement {number}: {statement}"
)
SYNTAX_ERROR_AT_END = (
    "The SQL ends in the middle of statement {number}: {error}. Nothing was applied.\n"
    "Statement {number}: {statement}"
)
NOT_UNICODE = (
    "The SQL holds an invalid character (a lone UTF-16 surrogate) at character {position}. "
    "Nothing was applied."
)

#: How each kind of transaction-control statement is named in the refusal.
_KEYWORDS = {
    "TRANS_STMT_BEGIN": "BEGIN",
    "TRANS_STMT_START": "START TRANSACTION",
    "TRANS_STMT_COMMIT": "COMMIT",
    "TRANS_STMT_ROLLBACK": "ROLLBACK",
    "TRANS_STMT_SAVEPOINT": "SAVEPOINT",
    "TRANS_STMT_RELEASE": "RELEASE",
    "TRANS_STMT_ROLLBACK_TO": "ROLLBACK TO",
    "TRANS_STMT_PREPARE": "PREPARE TRANSACTION",
    "TRANS_STMT_COMMIT_PREPARED": "COMMIT PREPARED",
    "TRANS_STMT_ROLLBACK_PREPARED": "ROLLBACK PREPARED",
}
_SHOWN = 300


class SqlRefused(ValueError):
    """The SQL cannot run as one version; the message says which statement and why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def statements(sql: str) -> list[str]:
    """The statements of `sql` (comment-only and empty ones dropped), each as its text.

    Raises `SqlRefused` for a syntax error (naming the statement, line and column) and for
    any statement that controls the transaction."""
    if not sql or not sql.strip():
        return []
    try:
        raw = sql.encode("utf-8")
    except UnicodeEncodeError as error:
        raise SqlRefused(NOT_UNICODE.format(position=error.start + 1)) from None
    try:
        tree = json.loads(parser.parse_sql_json(sql))
    except parser.ParseError as error:
        raise SqlRefused(_syntax_error(sql, error)) from None
    # libpg_query's JSON counts in bytes of UTF-8, so `raw` is what is sliced.
    found: list[str] = []
    for number, entry in enumerate(tree.get("stmts", []), 1):
        start = entry.get("stmt_location", 0)
        length = entry.get("stmt_len") or len(raw) - start
        text = raw[start : start + length].decode("utf-8", "replace").strip()
        node = entry.get("stmt", {})
        if "TransactionStmt" in node:
            kind = node["TransactionStmt"].get("kind", "")
            keyword = _KEYWORDS.get(kind, "transaction control")
            if node["TransactionStmt"].get("chain"):
                keyword += " AND CHAIN"
            raise SqlRefused(
                TRANSACTION_CONTROL.format(number=number, keyword=keyword, statement=text[:_SHOWN])
            )
        found.append(text)
    return found


def _syntax_error(sql: str, error: parser.ParseError) -> str:
    message = str(error.args[0]) if error.args else str(error)
    index = error.args[1] if len(error.args) > 1 else None
    if index is None or not 0 <= index <= len(sql):
        index = len(sql)
    number, start, end = _statement_at(sql, index)
    statement = sql[start:end].strip()[:_SHOWN]
    if index >= len(sql.rstrip()):
        return SYNTAX_ERROR_AT_END.format(number=number, error=message, statement=statement)
    line = sql.count("\n", 0, index) + 1
    column = index - (sql.rfind("\n", 0, index) + 1) + 1
    return SYNTAX_ERROR.format(
        number=number, line=line, column=column, error=message, statement=statement
    )


def _statement_at(sql: str, index: int) -> tuple[int, int, int]:
    """Number, start and end of the statement holding character `index`.

    The parser stopped at the error, so the statements are found with PostgreSQL's scanner:
    its `;` tokens are the boundaries (never a `;` inside a string or a comment)."""
    try:
        tokens = parser.scan(sql)
    except parser.ParseError:
        try:  # an unterminated string or comment: what comes before it still scans
            tokens = parser.scan(sql[:index])
        except parser.ParseError:
            return 1, 0, len(sql)
    number, start, seen = 1, 0, False
    for token in tokens:
        if token.name == "ASCII_59":
            if token.start >= index:
                return number, start, token.start
            number, start, seen = (number + 1 if seen else number), token.end + 1, False
        elif not token.name.endswith("_COMMENT"):
            seen = True
    return number, start, len(sql)
