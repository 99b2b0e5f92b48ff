"""Parsing Bronze lines by the contract's strict rules (docs/contract.md), with built-in
functions only (no Python UDFs), so it runs at JVM speed on any cluster.

Spark's JSON reader is lenient where the contract is strict; each gap is closed here:
- invalid UTF-8: Jackson decodes it to U+FFFD; `is_valid_utf8` on the raw bytes catches it;
- single quotes, NaN/Infinity, comments, unquoted names: Jackson options switched off, and a
  corrupt-record column tells a parse failure from `{}`;
- trailing text after the closing brace (Jackson stops at the object's end): a structural
  check on the line with its string literals blanked out, see `single_json_object`;
- timestamps: Spark's cast accepts date-only strings and zone names, so the grammar is checked
  with a regex first, and `±HHMM`/`±HH` zones are rewritten to `±HH:MM` before the cast.
"""
from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

CORRUPT = "_corrupt_record"

JSON_OPTIONS = {
    "mode": "PERMISSIVE",
    "columnNameOfCorruptRecord": CORRUPT,
    "allowSingleQuotes": "false",
    "allowNonNumericNumbers": "false",
    "allowComments": "false",
    "allowUnquotedFieldNames": "false",
    "allowNumericLeadingZeros": "false",
    "allowBackslashEscapingAnyCharacter": "false",
    "allowUnquotedControlChars": "false",
}

# A JSON string literal (escapes included); possessive quantifiers keep the JVM regex linear.
_STRING_LITERAL = r'"[^"\\]*+(?:\\.[^"\\]*+)*+"'
# An innermost object or array once string literals are blanked.
_INNERMOST = r"\{[^{}\[\]]*\}|\[[^{}\[\]]*\]"
MAX_NESTING = 4

_TS_GRAMMAR = (r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?"
               r"(Z|[+-][0-9]{2}(:?[0-9]{2})?)?$")


def single_json_object(raw: Column) -> Column:
    """True when the line is one JSON object and nothing else but whitespace around it
    (given that Jackson parsed it: this only rules out text after the object's end).

    Fast path: a line whose only braces/brackets are its first `{` and last `}` cannot hold
    anything after the object Jackson parsed. Otherwise string literals are blanked and
    innermost {...}/[...] groups collapsed to `0` (MAX_NESTING times): a single top-level object
    collapses to exactly `0`. Objects nested deeper than MAX_NESTING count as malformed.
    """
    flat = raw.rlike(r"^[ \t]*\{[^{}\[\]]*\}[ \t]*$")
    skeleton = F.regexp_replace(raw, _STRING_LITERAL, '""')
    for _ in range(MAX_NESTING):
        skeleton = F.regexp_replace(skeleton, _INNERMOST, "0")
    nested = raw.rlike(r"^[ \t]*\{") & skeleton.rlike(r"^[ \t]*0[ \t]*$")
    return flat | nested


def parse_object(raw: Column, fields: tuple[str, ...]) -> Column:
    """The line parsed as a struct of string fields plus CORRUPT (set when Jackson fails).

    Every field is read as a string: a JSON number arrives as Spark renders it (`1e3` ->
    "1000.0"), so typing and validation happen after, with try_cast.
    """
    schema = T.StructType([T.StructField(f, T.StringType()) for f in fields]
                          + [T.StructField(CORRUPT, T.StringType())])
    return F.from_json(raw, schema, JSON_OPTIONS)


# What the regex `\s` is (Java's, without flags), and the line ends before which a final `$`
# also matches: a value is blank by `^\s*$` only when empty or starting with one of them.
WHITESPACE = " \t\n\x0b\f\r"
_BLANK_STARTS = list(WHITESPACE + "\u0085\u2028\u2029")


def blank_to_null(c: Column) -> Column:
    """Rule 2's notion of missing: absent, JSON null, or empty/whitespace-only (`^\\s*$`).
    The regex runs only on the rare value that starts with whitespace: a first-character test
    needs no decoding of the value."""
    blank = (c == "") | (F.substring(c, 1, 1).isin(_BLANK_STARTS) & c.rlike(r"^\s*$"))
    return F.when(~blank, c)


def trimmed(c: Column) -> Column:
    """Leading and trailing whitespace (`\\s`) removed. (The regex `^\\s+|\\s+$` would also
    strip whitespace before a final U+0085/U+2028/U+2029; only enum and currency codes are
    trimmed, and a value holding one of those is no code either way.)"""
    return F.btrim(c, F.lit(WHITESPACE))


def normalize_enum(c: Column) -> Column:
    """Trim, lower-case, each `-` and space -> `_`."""
    return F.translate(F.lower(trimmed(c)), "- ", "__")


def normalize_currency(c: Column) -> Column:
    return F.upper(trimmed(c))


def parse_timestamp(c: Column) -> Column:
    """SPEC §6 timestamp grammar, calendar-checked; NULL when it does not parse."""
    zone_hhmm = F.regexp_replace(c, r"([+-][0-9]{2})([0-9]{2})$", "$1:$2")
    zone_full = F.regexp_replace(zone_hhmm, r"([+-][0-9]{2})$", "$1:00")
    # a value ending in `Z` has no offset to rewrite: the rewrites only run for the others
    return F.when(c.rlike(_TS_GRAMMAR), F.when(c.endswith("Z"), c).otherwise(zone_full)
                  .try_cast("timestamp"))


def parse_money(c: Column) -> Column:
    """decimal(12,2), half-up; NULL when not numeric or too large."""
    return c.try_cast("decimal(12,2)")


def to_usd(amount: Column, currency: Column, fx_rates: dict) -> Column:
    """round(amount * rate, 2) half away from zero, rate as decimal(12,6)."""
    rate = None
    for code, value in sorted(fx_rates.items()):    # one flat CASE; NULL for other currencies
        is_code, value_col = currency == code, F.lit(str(value)).cast("decimal(12,6)")
        rate = F.when(is_code, value_col) if rate is None else rate.when(is_code, value_col)
    return F.round(amount * rate, 2).cast("decimal(14,2)")


def parse_fields(raw: DataFrame, fields: tuple[str, ...]) -> DataFrame:
    """raw_record, source_file, ingest_date, `is_object`, and `r_<field>` (string, blank -> NULL)."""
    # `_p` is its own column so the JSON is parsed once per line: Spark keeps a projection
    # that is referenced many times instead of inlining it into every reference.
    parsed = raw.select("*", parse_object(F.col("raw_record"), fields).alias("_p"))
    # RFC 8259 JSON is UTF-8: a line with invalid UTF-8 is not a JSON object (its exact bytes
    # stay in raw_record; Jackson would have replaced them with U+FFFD, silently)
    is_object = (F.expr("is_valid_utf8(raw_record)") & single_json_object(F.col("raw_record"))
                 & F.col("_p")[CORRUPT].isNull())
    return parsed.select(
        "raw_record", "source_file", "ingest_date", is_object.alias("is_object"),
        *[blank_to_null(F.col("_p")[f]).alias(f"r_{f}") for f in fields])


def carried_columns(required: tuple[str, ...]) -> list[Column]:
    """What every typed Silver select keeps for the rules and the quarantine."""
    return [F.col(c) for c in ("raw_record", "source_file", "ingest_date", "is_object")] + [
        F.col(f"r_{f}") for f in required]
