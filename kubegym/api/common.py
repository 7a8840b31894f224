"""Shapes shared by every kind: the model base, cross-field rules, quantities, conditions.

Every model in `kubegym.api` derives from `Model`. A `Rule` is one cross-field
check written twice, side by side: as CEL for the API server (it lands in the
CRD as `x-kubernetes-validations`) and as Python for `kubegym validate`, with
one message, so both paths say the same thing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Final, Literal

import pydantic
from pydantic import BeforeValidator, ConfigDict, Field, WithJsonSchema
from pydantic.alias_generators import to_camel, to_snake
from pydantic_core import PydanticCustomError

GROUP = "kubegym.io"
VERSION = "v1alpha1"
API_VERSION: Final = "kubegym.io/v1alpha1"  # GROUP/VERSION, spelled out for the Literal types


@dataclass(frozen=True)
class Rule:
    """One cross-field rule, enforced by the API server (CEL) and by pydantic (Python).

    Attributes:
        cel: the CEL expression over `self` (the object the rule is attached to).
        message: what is wrong, shown by both the API server and `kubegym validate`.
        check: the same rule in Python over the model instance; True means valid.
        field: the camelCase field the message is about, relative to the object
            (`primaryMetric`); it becomes the CEL `fieldPath`.
        locate: see the attribute.
    """

    cel: str
    message: str
    check: Callable[[Any], bool]
    field: str | None = None
    locate: Callable[[Any], tuple[str | int, ...] | None] | None = None
    """Optional, Python only: the exact place of the mistake below the object (such as
    ``("agents", 2, "name")``), so `kubegym validate` can name the offending item and
    its line where CEL can only name the list."""


def unique(list_field: str, key: str | None, message: str) -> Rule:
    """A rule that the items of a list (or their `key`) are unique.

    The API server already refuses duplicate keys of a list of type ``map`` or
    ``set``; this rule says so in kubegym's words and, above all, gives
    `kubegym validate` the same check, naming the second item. Lists it is used
    on carry a ``maxItems``, which keeps the quadratic CEL within the API server's
    cost budget.

    Args:
        list_field: the camelCase field holding the list.
        key: the camelCase key of each item; None for a list of strings.
        message: what is wrong, in words.
    """
    attr = to_snake(list_field)
    key_attr = to_snake(key) if key else None
    a_key, b_key = (f"a.{key}", f"b.{key}") if key else ("a", "b")
    cel = (
        f"!has(self.{list_field}) || "
        f"self.{list_field}.all(a, self.{list_field}.exists_one(b, {b_key} == {a_key}))"
    )

    def keys(obj: Any) -> list[Any]:
        items = getattr(obj, attr) or []
        return [getattr(i, key_attr) if key_attr else i for i in items]

    def locate(obj: Any) -> tuple[str | int, ...] | None:
        seen: set[Any] = set()
        for index, value in enumerate(keys(obj)):
            if value in seen:
                return (list_field, index, key) if key else (list_field, index)
            seen.add(value)
        return None

    return Rule(
        cel=cel,
        message=message,
        check=lambda obj: len(set(keys(obj))) == len(keys(obj)),
        field=list_field,
        locate=locate,
    )


class Model(pydantic.BaseModel):
    """The base of every API shape: camelCase on the wire, unknown fields refused.

    Field docstrings become the descriptions in the CRDs and the JSON schema.
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        use_attribute_docstrings=True,
        validate_assignment=True,
    )

    # Cross-field rules of this shape; see `Rule`.
    rules: ClassVar[tuple[Rule, ...]] = ()

    @pydantic.model_validator(mode="after")
    def _check_rules(self) -> Model:
        for rule in type(self).rules:
            if not rule.check(self):
                where = rule.locate(self) if rule.locate is not None else None
                raise PydanticCustomError(
                    "kubegym_rule",
                    "{message}",
                    {"message": rule.message, "field": rule.field or "", "loc": where or ()},
                )
        return self

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: Any, handler: pydantic.GetJsonSchemaHandler
    ) -> dict[str, Any]:
        schema = handler(core_schema)
        target = handler.resolve_ref_schema(schema)
        if cls.rules:
            validations = []
            for rule in cls.rules:
                entry: dict[str, Any] = {"rule": rule.cel, "message": rule.message}
                if rule.field:
                    entry["fieldPath"] = f".{rule.field}"
                validations.append(entry)
            target["x-kubernetes-validations"] = validations
        return schema

    def to_wire(self) -> dict[str, Any]:
        """The object as it is written in YAML and sent to the API server."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


# A Kubernetes resource quantity ("2", "500m", "16Gi"), written as a string or a number.
_QUANTITY_PATTERN = (
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))"
    r"(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)


def _quantity_to_str(value: Any) -> Any:
    if isinstance(value, bool):
        return value  # let the string check refuse it
    if isinstance(value, int | float):
        return format(value, "g") if isinstance(value, float) else str(value)
    return value


Quantity = Annotated[
    str,
    BeforeValidator(_quantity_to_str),
    Field(pattern=_QUANTITY_PATTERN),
    # The same schema Kubernetes uses for resource.Quantity: int-or-string with a pattern.
    WithJsonSchema(
        {
            "anyOf": [{"type": "integer"}, {"type": "string"}],
            "pattern": _QUANTITY_PATTERN,
            "x-kubernetes-int-or-string": True,
        }
    ),
]

# The same, without a sign and with a non-zero digit in the number: what a request
# for CPU, memory or disk must be. Go's regexp (the API server's) has no lookahead,
# so "not zero" is spelled out: a non-zero digit before the point, or after it.
_POSITIVE_QUANTITY_PATTERN = (
    r"^\+?(([0-9]*[1-9][0-9]*(\.[0-9]*)?)|([0-9]*\.[0-9]*[1-9][0-9]*))"
    r"(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)

PositiveQuantity = Annotated[
    str,
    BeforeValidator(_quantity_to_str),
    Field(pattern=_POSITIVE_QUANTITY_PATTERN),
    # An integer escapes `pattern` (it only applies to strings), hence the CEL rule.
    WithJsonSchema(
        {
            "anyOf": [{"type": "integer"}, {"type": "string"}],
            "pattern": _POSITIVE_QUANTITY_PATTERN,
            "x-kubernetes-int-or-string": True,
            "x-kubernetes-validations": [
                {
                    "rule": "type(self) != int || self > 0",
                    "message": "must be a positive quantity, such as 2, 500m or 8Gi",
                }
            ],
        }
    ),
]
"""A quantity greater than zero (CPU, memory, disk): ``-1``, ``0`` and ``0Gi`` are refused."""

POSITIVE_QUANTITY_PATTERN: Final = _POSITIVE_QUANTITY_PATTERN

# A path inside a task's folder (or the workspace): relative, with no `..` segment, so a
# Task can never point the evaluator, the preparation or the sandbox outside its folder.
# Spelled as segments that are not `..` (again no lookahead in Go's regexp).
_SEGMENT = r"(?:[^/.][^/]*|[.][^/.][^/]*|[.][.][^/]+|[.])"  # [.], not \., so CEL can quote it
TASK_PATH_PATTERN: Final = rf"^{_SEGMENT}(?:/{_SEGMENT})*/?$"
TaskPath = Annotated[str, Field(min_length=1, max_length=4096, pattern=TASK_PATH_PATTERN)]
"""A relative path that stays inside its folder: no leading ``/``, no ``..`` segment."""

_SUFFIXES = {
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "Ei": 2**60,
    "n": 1e-9,
    "u": 1e-6,
    "m": 1e-3,
    "": 1,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "P": 1e15,
    "E": 1e18,
}


def parse_quantity(quantity: str) -> float:
    """The value of a Kubernetes quantity: ``"500m"`` → 0.5, ``"2Gi"`` → 2147483648.

    Raises:
        ValueError: not a quantity.
    """
    text = str(quantity).strip()
    for suffix in sorted(_SUFFIXES, key=len, reverse=True):
        if suffix and text.endswith(suffix):
            return float(text[: -len(suffix)]) * _SUFFIXES[suffix]
    return float(text)


# A DNS-1123 label: the names of tasks, agents and runs end up in pod names and labels.
DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DnsLabel = Annotated[str, Field(min_length=1, max_length=63, pattern=DNS_LABEL_PATTERN)]
# A DNS-1123 subdomain: the names of most cluster-scoped objects (PriorityClasses and the like).
DNS_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
DnsSubdomain = Annotated[str, Field(min_length=1, max_length=253, pattern=DNS_SUBDOMAIN_PATTERN)]

Sha256 = Annotated[str, Field(pattern=r"^[a-f0-9]{64}$")]

# A host a sandbox may reach through the egress proxy: a DNS name in lower case, or
# `*.` and a domain for every name below it (never the domain itself). Names only:
# an address would let a proxy client pick any machine behind a name it resolves to.
HOST_PATTERN = (
    r"^(\*\.)?([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]([-a-z0-9]{0,61}[a-z0-9])?$"
    r"|^localhost$"
)
HostPattern = Annotated[str, Field(min_length=1, max_length=253, pattern=HOST_PATTERN)]


class Egress(Model):
    """The hosts a sandbox may reach, by name, through kubegym's egress proxy.

    Only HTTP and HTTPS (CONNECT) to ports 80 and 443 of a listed name go out;
    everything else is refused, and every request, let through or not, is logged
    in the trial's results. Empty: the sandbox reaches nothing.
    """

    hosts: Annotated[
        list[HostPattern],
        Field(max_length=64, json_schema_extra={"x-kubernetes-list-type": "set"}),
    ] = Field(default_factory=list)
    """Host names, or `*.domain` for every name under a domain, such as `pypi.org`,
    `files.pythonhosted.org` or `*.huggingface.co`."""


Direction = Literal["max", "min"]


class Condition(Model):
    """One condition in the shape of Kubernetes' metav1.Condition."""

    type: Annotated[str, Field(min_length=1, max_length=316)]
    """The condition's type in CamelCase, such as `Ready` or `BudgetExhausted`."""

    status: Literal["True", "False", "Unknown"]
    """Whether the condition holds."""

    observed_generation: Annotated[int, Field(ge=0)] | None = None
    """The object's `metadata.generation` this condition was computed from."""

    last_transition_time: dt.datetime
    """When the status last changed."""

    reason: Annotated[
        str,
        Field(min_length=1, max_length=1024, pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"),
    ]
    """A CamelCase word for the cause, for machines."""

    message: Annotated[str, Field(max_length=32768)] = ""
    """The cause in words, for people."""


class SecretKeyRef(Model):
    """A key inside a Kubernetes Secret in the run's namespace."""

    name: DnsLabel
    """The Secret's name."""

    key: Annotated[str, Field(min_length=1, max_length=253)] = "api-key"
    """The key inside the Secret."""


class LabelSelectorRequirement(Model):
    """One expression of a label selector, as in Kubernetes."""

    key: Annotated[str, Field(min_length=1)]
    """The label key."""

    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    """How the key relates to the values."""

    values: list[str] | None = None
    """The values for In and NotIn; empty for Exists and DoesNotExist."""


class LabelSelector(Model):
    """A Kubernetes label selector over Task objects."""

    match_labels: dict[str, str] | None = None
    """Labels a Task must carry, all of them."""

    match_expressions: list[LabelSelectorRequirement] | None = None
    """Expressions a Task's labels must satisfy, all of them."""


class ObjectMeta(Model):
    """The part of Kubernetes' ObjectMeta a run file sets; the rest is the server's."""

    model_config = ConfigDict(extra="allow")  # uid, resourceVersion… come back from the server

    name: Annotated[str, Field(min_length=1, max_length=63, pattern=DNS_LABEL_PATTERN)]
    """The object's name: a DNS-1123 label, since it ends up in pod names and labels."""

    namespace: str | None = None
    """The namespace; the current one when absent."""

    labels: dict[str, str] | None = None
    """Labels, for selecting tasks by label and for the pods kubegym creates."""

    annotations: dict[str, str] | None = None
    """Annotations, kept as they are."""
