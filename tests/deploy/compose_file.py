"""docker/compose.yaml read as Docker Compose reads it: anchors and merge keys, `${…}` interpolation
from an environment, and each service's command, environment and healthcheck, ready to run here.

Only what the project's compose file uses is supported; anything else is refused loudly, so a
change to the file that this reader would misread fails the test instead of passing it by accident.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

COMPOSE_FILE = Path(__file__).resolve().parents[2] / "docker" / "compose.yaml"
DOCKERFILE = COMPOSE_FILE.parent / "Dockerfile"

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class ComposeError(ValueError):
    """The file says something this reader (and so the test) does not understand, or a required
    variable is missing (`${VAR:?message}`)."""


def interpolate(text: str, environment: Mapping[str, str]) -> str:
    """`$$`, `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?error}`, `${VAR?error}`,
    `${VAR:+other}`, `${VAR+other}`, with defaults that are themselves interpolated (as Compose does)."""
    out: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char != "$":
            out.append(char)
            index += 1
            continue
        following = text[index + 1 : index + 2]
        if following == "$":
            out.append("$")
            index += 2
        elif following == "{":
            end = _closing_brace(text, index + 2)
            out.append(_expression(text[index + 2 : end], environment))
            index = end + 1
        elif match := _NAME.match(text, index + 1):
            out.append(environment.get(match.group(), ""))
            index = match.end()
        else:
            raise ComposeError(f"a lone $ in {text!r}: write $$ for a dollar")
    return "".join(out)


def _closing_brace(text: str, start: int) -> int:
    depth = 1
    for index in range(start, len(text)):
        if text[index] == "{" and text[index - 1] == "$":
            depth += 1
        elif text[index] == "}":
            depth -= 1
            if depth == 0:
                return index
    raise ComposeError(f"an unclosed ${{ in {text!r}")


def _expression(body: str, environment: Mapping[str, str]) -> str:
    match = _NAME.match(body)
    if match is None:
        raise ComposeError(f"not a variable: ${{{body}}}")
    name, rest = match.group(), body[match.end() :]
    value = environment.get(name)
    if not rest:
        return value or ""
    for operator in (":-", ":?", ":+", "-", "?", "+"):
        if rest.startswith(operator):
            argument = interpolate(rest[len(operator) :], environment)
            unset = value is None or (operator.startswith(":") and value == "")
            if operator.endswith("-"):
                return argument if unset else str(value)
            if operator.endswith("?"):
                if unset:
                    raise ComposeError(f"{name}: {argument}")
                return str(value)
            return "" if unset else argument
    raise ComposeError(f"an operator this reader does not know: ${{{body}}}")


@dataclass(frozen=True, slots=True)
class Service:
    name: str
    command: list[str]
    environment: dict[str, str]
    healthcheck: list[str] | None  # argv, already in shell form when the file says CMD-SHELL
    profiles: list[str] = field(default_factory=list)
    image: str = ""
    # env_file paths as written (relative to the compose file's folder)
    env_files: list[str] = field(default_factory=list)


def _resolve(node: Any, environment: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, environment)
    if isinstance(node, list):
        return [_resolve(item, environment) for item in node]
    if isinstance(node, dict):
        return {key: _resolve(value, environment) for key, value in node.items()}
    return node


def _command(name: str, raw: Any) -> list[str]:
    # Compose splits a string command like a shell would, without running one.
    if isinstance(raw, str):
        return shlex.split(raw)
    if isinstance(raw, list) and all(isinstance(part, str) for part in raw):
        return list(raw)
    raise ComposeError(f"{name}: a command must be a string or a list of strings")


def _healthcheck(name: str, raw: Any) -> list[str] | None:
    if raw is None:
        return None
    test = raw.get("test")
    if isinstance(test, list) and test and test[0] == "CMD":
        return list(test[1:])
    if isinstance(test, list) and test and test[0] == "CMD-SHELL":
        return ["sh", "-c", " ".join(test[1:])]
    raise ComposeError(f"{name}: a healthcheck test must be [CMD, …] or [CMD-SHELL, …]")


def _environment(name: str, raw: Any) -> dict[str, str]:
    if raw is None:
        return {}
    if isinstance(raw, dict):
        return {str(key): "" if value is None else str(value) for key, value in raw.items()}
    raise ComposeError(f"{name}: write environment as a mapping")


def _env_files(name: str, raw: Any) -> list[str]:
    if raw is None:
        return []
    entries = raw if isinstance(raw, list) else [raw]
    paths = []
    for entry in entries:
        if isinstance(entry, str):
            paths.append(entry)
        elif isinstance(entry, dict) and isinstance(entry.get("path"), str):
            paths.append(entry["path"])
        else:
            raise ComposeError(f"{name}: an env_file entry this reader does not know: {entry!r}")
    return paths


def load_services(environment: Mapping[str, str], path: Path = COMPOSE_FILE) -> dict[str, Service]:
    """Every service of the file, its values interpolated from `environment` (the shell and .env)."""
    document = yaml.safe_load(path.read_text())
    services = {}
    for name, raw in _resolve(document["services"], environment).items():
        services[name] = Service(
            name=name,
            command=_command(name, raw.get("command", [])),
            environment=_environment(name, raw.get("environment")),
            healthcheck=_healthcheck(name, raw.get("healthcheck")),
            profiles=list(raw.get("profiles", [])),
            image=str(raw.get("image", "")),
            env_files=_env_files(name, raw.get("env_file")),
        )
    return services


def dockerfile_step(containing: str, path: Path = DOCKERFILE) -> str:
    """The shell command of the Dockerfile's RUN step that runs `containing`, up to its first `&&`."""
    for match in re.finditer(r"^RUN (.+?)(?<!\\)$", path.read_text().replace("\\\n", " "), re.MULTILINE):
        for part in match.group(1).split("&&"):
            if containing in part:
                return part.strip()
    raise ComposeError(f"no RUN step of {path.name} runs {containing!r}")
