"""Parse `POST /results` search bodies (both filter dialects) and build value tests.

Two dialects exist in the wild and the simulator accepts both:
* documented (spec 5.3+): items `field`/`operator`, `logicOperator`, `sort[].field`;
* legacy (every shipped integration): items `columnField`/`operatorValue`,
  `linkoperator`, `sort[].Field`.
Key names are matched case-insensitively, so `linkOperator`, `LogicOperator` or
`FIELD` work too; a missing logic operator means AND.

Strictness where the real server is undocumented, so client bugs surface here
rather than in production: unknown fields, operators not valid for a field's type,
a missing `value` on an operator that needs one, and unknown sort fields or
directions all give 400. String comparisons are case-insensitive, like the data
grid the API's filter model comes from.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .timeutil import parse_to_us

DEFAULT_SIZE = 1000
MAX_SIZE = 100_000

STRING_OPERATORS = frozenset(
    {
        "contains",
        "equals",
        "startsWith",
        "endsWith",
        "notContains",
        "notEquals",
        "notStartsWith",
        "notEndsWith",
        "is",
        "not",
        "isEmpty",
        "isNotEmpty",
    }
)
INT_OPERATORS = frozenset({"equals", "=", "!=", "<", "<=", ">", ">=", "isEmpty", "isNotEmpty"})
DATE_OPERATORS = frozenset(
    {"is", "not", "after", "onOrAfter", "before", "onOrBefore", "isEmpty", "isNotEmpty"}
)
BOOL_OPERATORS = frozenset({"is"})
OPERATORS = {
    "string": STRING_OPERATORS,
    "tags": STRING_OPERATORS,
    "int": INT_OPERATORS,
    "date": DATE_OPERATORS,
    "bool": BOOL_OPERATORS,
}
NO_VALUE_OPERATORS = frozenset({"isEmpty", "isNotEmpty"})

FIELD_TYPES = {
    "id": "int",
    "sequence_id": "int",
    "header.host_sequence_id": "int",
    "data.severity": "int",
    "data.exec_seconds": "int",
    "count": "int",
    "external_id": "string",
    "data.status": "string",
    "header.host_id": "string",
    "header.hostname": "string",
    "header.node_name": "string",
    "data.name": "string",
    "header.ip_addr": "string",
    "header.queue_name": "string",
    "header.run_id": "string",
    "data.type": "string",
    "data.key_data": "string",
    "match_hashes.permissive": "string",
    "match_hashes.moderate": "string",
    "match_hashes.strict": "string",
    "data.tags": "tags",
    "header.tags": "tags",
    "data.end_time": "date",
    "first_seen": "date",
    "last_seen": "date",
    "whitelisted": "bool",
    "drift_result": "bool",
    "containerized": "bool",
    "data.results.containerized": "bool",
    "header.manual_scan": "bool",
    "superseded": "bool",
}

SORTABLE_FIELDS = frozenset(
    {
        "id",
        "sequence_id",
        "data.end_time",
        "data.status",
        "data.severity",
        "data.name",
        "data.type",
        "data.engine",
        "header.host_id",
        "host_id",
        "header.hostname",
        "header.node_name",
        "header.ip_addr",
        "header.host_sequence_id",
        "header.queue_name",
    }
)


class QueryError(ValueError):
    """A search request the server rejects with 400."""


class _Missing:
    """Marks a filter item sent without a `value` key."""


MISSING = _Missing()


@dataclass(frozen=True)
class Condition:
    """One filter item, normalised from either dialect."""

    field: str
    operator: str
    value: object


@dataclass(frozen=True)
class SortKey:
    """One sort entry."""

    field: str
    descending: bool


@dataclass(frozen=True)
class ResultQuery:
    """A validated `ResultsSearch` body."""

    conditions: tuple[Condition, ...] = ()
    any_of: bool = False
    sort: tuple[SortKey, ...] = ()
    size: int = DEFAULT_SIZE
    page: int = 1
    summary: bool = False
    result_ids: frozenset[int] | None = None
    time_since_us: int | None = None


def _key(mapping: dict, *names: str) -> object:
    """Value of the first key matching any of `names` case-insensitively (MISSING if none)."""
    wanted = {name.lower() for name in names}
    for key, value in mapping.items():
        if isinstance(key, str) and key.lower() in wanted:
            return value
    return MISSING


def _positive_int(body: dict, name: str, default: int, maximum: int) -> int:
    """An optional integer parameter within [1, maximum]."""
    value = body.get(name, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
        raise QueryError(f"'{name}' must be an integer between 1 and {maximum}")
    return value


def parse_results_query(body: object) -> ResultQuery:
    """Validate a `POST /results` body into a ResultQuery (QueryError on anything invalid)."""
    if not isinstance(body, dict):
        raise QueryError("request body must be a JSON object")
    size = _positive_int(body, "size", DEFAULT_SIZE, MAX_SIZE)
    page = _positive_int(body, "page", 1, 10_000_000)
    summary = body.get("summary") or False
    if not isinstance(summary, bool):
        raise QueryError("'summary' must be a boolean")
    conditions, any_of = _parse_filter(body.get("filter"))
    return ResultQuery(
        conditions=conditions,
        any_of=any_of,
        sort=_parse_sort(body.get("sort")),
        size=size,
        page=page,
        summary=summary,
        result_ids=_parse_result_ids(body.get("result_ids")),
        time_since_us=_parse_time_since(body.get("time_since")),
    )


def _parse_filter(raw: object) -> tuple[tuple[Condition, ...], bool]:
    """Filter items and whether they are OR-ed."""
    if raw is None:
        return (), False
    if not isinstance(raw, dict):
        raise QueryError("'filter' must be an object")
    items = raw.get("items") or []
    if not isinstance(items, list):
        raise QueryError("'filter.items' must be a list")
    logic = _key(raw, "logicOperator", "linkOperator")
    if logic is MISSING or logic is None:
        logic = "and"
    if not isinstance(logic, str) or logic.lower() not in ("and", "or"):
        raise QueryError(f"unknown logic operator {logic!r}: use 'and' or 'or'")
    return tuple(_parse_item(item) for item in items), logic.lower() == "or"


def _parse_item(item: object) -> Condition:
    """One filter item in either dialect."""
    if not isinstance(item, dict):
        raise QueryError("each filter item must be an object")
    field = _key(item, "field", "columnField")
    operator = _key(item, "operator", "operatorValue")
    if not isinstance(field, str) or not isinstance(operator, str):
        raise QueryError(
            "each filter item needs 'field' (or 'columnField') and 'operator' (or 'operatorValue')"
        )
    field_type = FIELD_TYPES.get(field)
    if field_type is None:
        raise QueryError(f"unknown filter field '{field}'")
    if operator not in OPERATORS[field_type]:
        raise QueryError(f"operator '{operator}' is not valid for {field_type} field '{field}'")
    value = _key(item, "value")
    if operator not in NO_VALUE_OPERATORS and (value is MISSING or value is None):
        raise QueryError(f"filter on '{field}' with operator '{operator}' needs a value")
    return Condition(field=field, operator=operator, value=value)


def _parse_sort(raw: object) -> tuple[SortKey, ...]:
    """Sort entries; unknown fields and directions are rejected as the spec says."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise QueryError("'sort' must be a list")
    keys = []
    for entry in raw:
        if not isinstance(entry, dict):
            raise QueryError("each sort entry must be an object")
        field = _key(entry, "field")
        direction = _key(entry, "sort")
        if not isinstance(field, str) or field not in SORTABLE_FIELDS:
            raise QueryError(f"unknown or unsortable sort field {field!r}")
        if direction not in ("asc", "desc"):
            raise QueryError(f"sort direction must be 'asc' or 'desc', not {direction!r}")
        keys.append(SortKey(field=field, descending=direction == "desc"))
    return tuple(keys)


def _parse_result_ids(raw: object) -> frozenset[int] | None:
    """`result_ids`: ids are numeric strings; anything else matches no result."""
    if raw is None:
        return None
    if not isinstance(raw, list):
        raise QueryError("'result_ids' must be a list of ids")
    ids = set()
    for value in raw:
        text = str(value).strip()
        if text.isdigit():
            ids.add(int(text))
    return frozenset(ids)


def _parse_time_since(raw: object) -> int | None:
    """`time_since` (deprecated): results whose data.end_time is at or after it."""
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str):
        raise QueryError("'time_since' must be an ISO-8601 date-time string")
    try:
        return parse_to_us(raw)
    except ValueError as error:
        raise QueryError(str(error)) from error


def int_operand(condition: Condition) -> int:
    """The integer a condition compares with (numeric strings accepted)."""
    value = condition.value
    if isinstance(value, bool):
        raise QueryError(f"filter on '{condition.field}' needs an integer value")
    if isinstance(value, int):
        return value
    try:
        return int(str(value).strip())
    except ValueError as error:
        raise QueryError(f"filter on '{condition.field}' needs an integer value, not {value!r}") from error


def date_operand(condition: Condition) -> int:
    """The instant (epoch microseconds) a date condition compares with."""
    if not isinstance(condition.value, str):
        raise QueryError(f"filter on '{condition.field}' needs an ISO-8601 date-time string")
    try:
        return parse_to_us(condition.value)
    except ValueError as error:
        raise QueryError(str(error)) from error


def bool_operand(condition: Condition) -> bool:
    """The boolean a condition compares with (`true`/`false`, any case)."""
    value = condition.value
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text not in ("true", "false"):
        raise QueryError(f"filter on '{condition.field}' needs true or false, not {value!r}")
    return text == "true"


def value_test(condition: Condition) -> Callable[[object], bool]:
    """A test of one field value (str, list of str, int, epoch µs or bool) against the condition."""
    field_type = FIELD_TYPES[condition.field]
    if field_type == "string":
        return _string_test(condition.operator, _text_operand(condition))
    if field_type == "tags":
        return _tags_test(condition.operator, _text_operand(condition))
    if field_type == "int":
        return _int_test(
            condition.operator, None if condition.operator in NO_VALUE_OPERATORS else int_operand(condition)
        )
    if field_type == "date":
        operand = None if condition.operator in NO_VALUE_OPERATORS else date_operand(condition)
        return _date_test(condition.operator, operand)
    expected = bool_operand(condition)
    return lambda value: value == expected


def _text_operand(condition: Condition) -> str:
    """Lower-cased text operand (empty for isEmpty/isNotEmpty)."""
    if condition.operator in NO_VALUE_OPERATORS:
        return ""
    value = condition.value
    if isinstance(value, (dict, list)):
        raise QueryError(f"filter on '{condition.field}' needs a string value")
    return str(value).lower()


_POSITIVE = {
    "contains": lambda value, operand: operand in value,
    "equals": lambda value, operand: value == operand,
    "is": lambda value, operand: value == operand,
    "startsWith": lambda value, operand: value.startswith(operand),
    "endsWith": lambda value, operand: value.endswith(operand),
}
_NEGATED = {
    "notContains": "contains",
    "notEquals": "equals",
    "not": "is",
    "notStartsWith": "startsWith",
    "notEndsWith": "endsWith",
}


def _string_test(operator: str, operand: str) -> Callable[[object], bool]:
    """Test of a single string value."""
    if operator == "isEmpty":
        return lambda value: value is None or value == ""
    if operator == "isNotEmpty":
        return lambda value: value is not None and value != ""
    if operator in _NEGATED:
        positive = _POSITIVE[_NEGATED[operator]]
        return lambda value: not positive(str(value or "").lower(), operand)
    positive = _POSITIVE[operator]
    return lambda value: positive(str(value or "").lower(), operand)


def _tags_test(operator: str, operand: str) -> Callable[[object], bool]:
    """Test of a tag list: positive operators match any tag, negated ones match no tag."""
    if operator == "isEmpty":
        return lambda value: not value
    if operator == "isNotEmpty":
        return lambda value: bool(value)
    if operator in _NEGATED:
        positive = _POSITIVE[_NEGATED[operator]]
        return lambda value: not any(positive(str(tag).lower(), operand) for tag in value or ())
    positive = _POSITIVE[operator]
    return lambda value: any(positive(str(tag).lower(), operand) for tag in value or ())


_INT_TESTS = {
    "equals": lambda value, operand: value == operand,
    "=": lambda value, operand: value == operand,
    "!=": lambda value, operand: value != operand,
    "<": lambda value, operand: value < operand,
    "<=": lambda value, operand: value <= operand,
    ">": lambda value, operand: value > operand,
    ">=": lambda value, operand: value >= operand,
}


def _int_test(operator: str, operand: int | None) -> Callable[[object], bool]:
    """Test of an integer value."""
    if operator == "isEmpty":
        return lambda value: value is None
    if operator == "isNotEmpty":
        return lambda value: value is not None
    compare = _INT_TESTS[operator]
    return lambda value: value is not None and compare(value, operand)


_DATE_TESTS = {
    "is": lambda value, operand: value == operand,
    "not": lambda value, operand: value != operand,
    "after": lambda value, operand: value > operand,
    "onOrAfter": lambda value, operand: value >= operand,
    "before": lambda value, operand: value < operand,
    "onOrBefore": lambda value, operand: value <= operand,
}


def _date_test(operator: str, operand: int | None) -> Callable[[object], bool]:
    """Test of an instant in epoch microseconds (full-precision comparison)."""
    if operator == "isEmpty":
        return lambda value: value is None
    if operator == "isNotEmpty":
        return lambda value: value is not None
    compare = _DATE_TESTS[operator]
    return lambda value: value is not None and compare(value, operand)


def seq_bounds(condition: Condition) -> tuple[int | None, int | None] | None:
    """Inclusive sequence-id range exactly equivalent to an id condition, or None."""
    if condition.field not in ("id", "sequence_id"):
        return None
    operator = condition.operator
    if operator not in ("equals", "=", "<", "<=", ">", ">="):
        return None
    operand = int_operand(condition)
    return {
        "equals": (operand, operand),
        "=": (operand, operand),
        "<": (None, operand - 1),
        "<=": (None, operand),
        ">": (operand + 1, None),
        ">=": (operand, None),
    }[operator]


def end_time_bounds(condition: Condition) -> tuple[int | None, int | None] | None:
    """Inclusive epoch-ms range implied by a data.end_time condition, or None.

    Stored end times are whole milliseconds, so a microsecond operand is rounded
    inward: e.g. `after 10.5 ms` means `>= 11 ms`.
    """
    if (
        condition.field != "data.end_time"
        or condition.operator not in _DATE_TESTS
        or condition.operator == "not"
    ):
        return None
    micros = date_operand(condition)
    floor_ms = micros // 1000
    ceil_ms = -(-micros // 1000)
    return {
        "is": (ceil_ms, floor_ms),
        "after": (floor_ms + 1, None),
        "onOrAfter": (ceil_ms, None),
        "before": (None, ceil_ms - 1),
        "onOrBefore": (None, floor_ms),
    }[condition.operator]
