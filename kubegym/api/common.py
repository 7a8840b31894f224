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
from pydantic.alias_generators import to_camel
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
    """

    cel: str
    message: str
    check: Callable[[Any], bool]
    field: str | None = None


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
                raise PydanticCustomError(
                    "kubegym_rule",
                    "{message}",
                    {"message": rule.message, "field": rule.field or ""},
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

Sha256 = Annotated[str, Field(pattern=r"^[a-f0-9]{64}$")]

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
