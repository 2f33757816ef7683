"""The CloudFormation template of ``infra/``: finding it, reading its short-form YAML tags, and
rendering variants for stand-ins that cannot create every resource type.

Reading turns ``!Ref``, ``!Sub``, ``!GetAtt``... into their long JSON forms, so the template
becomes a plain dict that boto3 can send as JSON and tests can inspect resource by resource.
Nothing here talks to AWS.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from nephos.errors import ConfigError, UsageError

__all__ = [
    "API_GATEWAY_V2",
    "FILLED_PARAMETERS",
    "check_parameters",
    "find_infra_dir",
    "load_template",
    "parameter_names",
    "references",
    "template_body",
    "without_types",
]

API_GATEWAY_V2 = "AWS::ApiGatewayV2::"
"""The resource type prefix that moto cannot create from a template."""
FILLED_PARAMETERS = ("CodeBucket", "CodeKey", "HubTokenParameter", "LayerKey")
"""Parameters that the deploy fills in itself."""

_SCALAR_TAGS = ("Ref", "Condition")
_FN_TAGS = (
    "Sub",
    "If",
    "Not",
    "Equals",
    "And",
    "Or",
    "Join",
    "Select",
    "Split",
    "FindInMap",
    "Base64",
    "GetAZs",
    "ImportValue",
    "Cidr",
    "GetAtt",
)


def find_infra_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The ``infra/`` directory: ``explicit``, else ``$NEPHOS_INFRA_DIR``, else the source tree's.

    Raises:
        ConfigError: no directory holding ``template.yaml`` is found.
    """
    candidates = [explicit, os.environ.get("NEPHOS_INFRA_DIR")]
    candidates.append(Path(__file__).resolve().parents[2] / "infra")
    for candidate in candidates:
        if candidate and (Path(candidate) / "template.yaml").is_file():
            return Path(candidate)
    raise ConfigError(
        "cannot find infra/template.yaml; run from a nephos source checkout or set "
        "NEPHOS_INFRA_DIR to the directory holding template.yaml and handlers/"
    )


def load_template(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The template at ``path`` as a dict, short-form tags expanded to their long forms.

    Raises:
        ConfigError: the file cannot be read or is not a YAML mapping.
    """
    import yaml

    class _Loader(yaml.SafeLoader):
        """A SafeLoader that knows CloudFormation's short-form functions."""

    def _tag(name: str) -> Any:
        key = name if name in _SCALAR_TAGS else f"Fn::{name}"

        def construct(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
            value: Any
            if isinstance(node, yaml.ScalarNode):
                value = loader.construct_scalar(node)
                if name == "GetAtt":
                    value = str(value).split(".", 1)
            elif isinstance(node, yaml.SequenceNode):
                value = loader.construct_sequence(node, deep=True)
            else:
                value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
            return {key: value}

        return construct

    for name in (*_SCALAR_TAGS, *_FN_TAGS):
        _Loader.add_constructor(f"!{name}", _tag(name))
    try:
        with open(path, encoding="utf-8") as handle:
            data = yaml.load(handle, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read the template: {exc}", file=str(path)) from exc
    if not isinstance(data, dict) or not isinstance(data.get("Resources"), dict):
        raise ConfigError("not a CloudFormation template (no Resources)", file=str(path))
    return data


def template_body(template: Mapping[str, Any]) -> str:
    """The template as compact JSON, as sent in ``TemplateBody``."""
    return json.dumps(template, separators=(",", ":"), sort_keys=False)


def parameter_names(template: Mapping[str, Any]) -> frozenset[str]:
    """The names of the template's parameters."""
    return frozenset(template.get("Parameters", {}))


def references(value: Any) -> set[str]:
    """Every logical id that ``value`` names through Ref, GetAtt, Sub or DependsOn."""
    import re

    found: set[str] = set()
    if isinstance(value, Mapping):
        for key, inner in value.items():
            if key == "Ref" and isinstance(inner, str):
                found.add(inner)
            elif key == "Fn::GetAtt":
                target = inner[0] if isinstance(inner, list) else str(inner).split(".")[0]
                found.add(str(target))
            elif key == "Fn::Sub":
                text = inner[0] if isinstance(inner, list) else inner
                found.update(m.split(".")[0] for m in re.findall(r"\$\{([^!}][^}]*)\}", text))
                if isinstance(inner, list) and len(inner) > 1:
                    found.update(references(inner[1]))
            elif key == "DependsOn":
                found.update([inner] if isinstance(inner, str) else inner)
            else:
                found.update(references(inner))
    elif isinstance(value, list):
        for inner in value:
            found.update(references(inner))
    return found


def without_types(
    template: Mapping[str, Any], prefixes: Iterable[str] = (API_GATEWAY_V2,)
) -> dict[str, Any]:
    """A copy of ``template`` without resources of the given type prefixes, nor anything that
    names them (resources, policy statements and outputs), for stand-ins such as moto.

    Policy statements that name a removed resource are dropped from their policies rather
    than dropping the role, so the functions keep their roles.
    """
    out: dict[str, Any] = json.loads(json.dumps(template))
    resources: dict[str, Any] = out["Resources"]
    removed = {name for name, r in resources.items() if r["Type"].startswith(tuple(prefixes))}
    changed = True
    while changed:
        changed = False
        for name, resource in list(resources.items()):
            if name in removed:
                continue
            _drop_statements(resource, removed)
            if references(resource) & removed:
                removed.add(name)
                changed = True
    for name in removed:
        resources.pop(name, None)
    out["Outputs"] = {
        key: value
        for key, value in out.get("Outputs", {}).items()
        if not references(value) & removed
    }
    return out


def _drop_statements(resource: dict[str, Any], removed: set[str]) -> None:
    if resource.get("Type") != "AWS::IAM::Role":
        return
    for policy in resource.get("Properties", {}).get("Policies", []):
        document = policy.get("PolicyDocument", {})
        document["Statement"] = [
            s for s in document.get("Statement", []) if not references(s) & removed
        ]


def check_parameters(template: Mapping[str, Any], given: Mapping[str, str]) -> None:
    """Refuse unknown parameters and values the template's constraints rule out.

    Raises:
        UsageError: a name is not a parameter, is filled by the deploy, or its value breaks
            the parameter's AllowedValues, AllowedPattern, MinValue or MaxValue.
    """
    import re

    declared = template.get("Parameters", {})
    for name, value in given.items():
        if name in FILLED_PARAMETERS:
            raise UsageError(f"--parameter {name}: filled in by nephos deploy")
        spec = declared.get(name)
        if spec is None:
            known = ", ".join(sorted(set(declared) - set(FILLED_PARAMETERS)))
            raise UsageError(f"--parameter {name}: no such parameter (known: {known})")
        allowed = spec.get("AllowedValues")
        if allowed and value not in [str(a) for a in allowed]:
            raise UsageError(f"--parameter {name}={value}: must be one of {', '.join(allowed)}")
        pattern = spec.get("AllowedPattern")
        if pattern and not re.fullmatch(pattern, value):
            raise UsageError(f"--parameter {name}={value}: must match {pattern}")
        if spec.get("Type") == "Number":
            try:
                number = float(value)
            except ValueError:
                raise UsageError(f"--parameter {name}={value}: must be a number") from None
            low, high = spec.get("MinValue"), spec.get("MaxValue")
            if (low is not None and number < float(low)) or (
                high is not None and number > float(high)
            ):
                raise UsageError(f"--parameter {name}={value}: must be {low}..{high}")
