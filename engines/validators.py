"""Kubernetes name rules as pydantic types, for engine settings that name cluster objects.

Engine `Settings` models annotate fields with these (`list[NamespaceName]`, `QualifiedName`) so
a namespace or annotation key the API server would refuse is refused when the analyst saves it,
not silently never matched at scan time. The rules and messages follow Kubernetes'
apimachinery `validation.IsDNS1123Label`, `IsDNS1123Subdomain` and `IsQualifiedName`. Pure: no
I/O, used by engines and, through their Settings, by the Engines page.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

DNS1123_LABEL_MAX = 63
DNS1123_SUBDOMAIN_MAX = 253
QUALIFIED_NAME_MAX = 63

_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_LABEL = re.compile(rf"^{_LABEL}$")
_DNS1123_SUBDOMAIN = re.compile(rf"^{_LABEL}(\.{_LABEL})*$")
_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")


def dns1123_label_errors(value: str) -> list[str]:
    """Why `value` is not an RFC 1123 label (namespace names); empty when it is one."""
    errors = []
    if len(value) > DNS1123_LABEL_MAX:
        errors.append(f"must be no more than {DNS1123_LABEL_MAX} characters")
    if not _DNS1123_LABEL.match(value):
        errors.append(
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
            "and must start and end with an alphanumeric character (e.g. 'my-name', or '123-abc')"
        )
    return errors


def dns1123_subdomain_errors(value: str) -> list[str]:
    """Why `value` is not an RFC 1123 subdomain (most object names, label key prefixes)."""
    errors = []
    if len(value) > DNS1123_SUBDOMAIN_MAX:
        errors.append(f"must be no more than {DNS1123_SUBDOMAIN_MAX} characters")
    if not _DNS1123_SUBDOMAIN.match(value):
        errors.append(
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' "
            "or '.', and must start and end with an alphanumeric character (e.g. 'example.com')"
        )
    return errors


def qualified_name_errors(value: str) -> list[str]:
    """Why `value` is not a qualified name (label and annotation keys: `[prefix/]name`)."""
    parts = value.split("/")
    if len(parts) > 2:
        return [
            "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start "
            "and end with an alphanumeric character, with an optional DNS subdomain prefix and '/' "
            "(e.g. 'example.com/MyName')"
        ]
    name = parts[-1]
    errors = []
    if len(parts) == 2:
        prefix = parts[0]
        if not prefix:
            errors.append("prefix part must be non-empty")
        else:
            errors.extend(f"prefix part {e}" for e in dns1123_subdomain_errors(prefix))
    if not name:
        errors.append("name part must be non-empty")
    else:
        if len(name) > QUALIFIED_NAME_MAX:
            errors.append(f"name part must be no more than {QUALIFIED_NAME_MAX} characters")
        if not _QUALIFIED_NAME.match(name):
            errors.append(
                "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and "
                "end with an alphanumeric character (e.g. 'MyName', or 'my.name', or '123-abc')"
            )
    return errors


def _raise_on(errors: list[str], value: str, what: str) -> str:
    if errors:
        raise ValueError(f"{value!r} is not a valid {what}: " + "; ".join(errors))
    return value


def check_namespace_name(value: str) -> str:
    return _raise_on(dns1123_label_errors(value), value, "namespace name")


def check_object_name(value: str) -> str:
    return _raise_on(dns1123_subdomain_errors(value), value, "object name")


def check_qualified_name(value: str) -> str:
    return _raise_on(qualified_name_errors(value), value, "label or annotation key")


NamespaceName = Annotated[str, AfterValidator(check_namespace_name)]
"""A namespace name: an RFC 1123 label (at most 63 of a-z, 0-9 and '-')."""

ObjectName = Annotated[str, AfterValidator(check_object_name)]
"""A cluster-scoped object name such as a PriorityClass: an RFC 1123 subdomain."""

QualifiedName = Annotated[str, AfterValidator(check_qualified_name)]
"""A label or annotation key: `name` or `prefix/name`, the prefix a DNS subdomain."""
