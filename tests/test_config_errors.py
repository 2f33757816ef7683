"""Bad configs are rejected with ``file:line: key.path: what was expected``, and through the
real CLI with exit code 3 and no traceback."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import textwrap

import pytest

from nephos.config import load_config
from nephos.errors import ConfigError

# (id, config text, the exact message). Each names a distinct mistake.
BAD_CONFIGS = [
    (
        "duration-in-words",
        """
        targets:
          - name: api
            url: https://api.example.com
            interval: 2 minutes
        """,
        'nephos.yaml:4: targets[0].interval: "2 minutes" is not a duration (try 2m)',
    ),
    (
        "misspelt-key",
        """
        targets:
          - name: api
            url: https://api.example.com
            intervall: 2m
        """,
        "nephos.yaml:4: targets[0].intervall: unknown key (did you mean interval?)",
    ),
    (
        "misspelt-top-level-key",
        """
        target:
          - name: api
        """,
        "nephos.yaml:1: target: unknown key (did you mean targets?)",
    ),
    (
        "condition-placeholder",
        """
        targets:
          - name: api
            url: https://api.example.com
          - name: web
            url: https://web.example.com
            conditions:
              - "[STATUS] == 200"
              - "[STAUTS] == 200"
        """,
        "nephos.yaml:8: targets[1].conditions[1]: unknown placeholder [STAUTS] "
        '(did you mean [STATUS]?) at column 1 of "[STAUTS] == 200"',
    ),
    (
        "unknown-notifier",
        """
        notifiers:
          ops: {type: log}
          pager: {type: log}
        targets:
          - name: api
            url: https://api.example.com
            alerts:
              - notify: [pager, opz]
        """,
        "nephos.yaml:8: targets[0].alerts[0].notify[1]: unknown notifier "
        '"opz" (did you mean ops? known: ops, pager)',
    ),
    (
        "unset-environment-variable",
        """
        targets:
          - name: api
            url: https://${API_HOST}/health
        """,
        "nephos.yaml:3: targets[0].url: environment variable API_HOST is not set "
        "(set it, or write ${API_HOST:-default})",
    ),
    (
        "malformed-reference",
        """
        hub:
          token: "${HUB TOKEN}"
        """,
        "nephos.yaml:2: hub.token: ${HUB TOKEN} is not a variable reference "
        "(write ${NAME} or ${NAME:-default})",
    ),
    (
        "bad-indentation",
        """
        targets:
          - name: api
            url: https://api.example.com
           interval: 2m
        """,
        "nephos.yaml:4: YAML syntax error: expected <block end>, but found "
        "'<block mapping start>' (check the indentation of this line and the one above)",
    ),
    (
        "duplicate-yaml-key",
        """
        sentinel:
          interval: 1m
          timeout: 5s
          interval: 2m
        """,
        "nephos.yaml:4: sentinel.interval: duplicate key (first at line 2)",
    ),
    (
        "duplicate-target-name",
        """
        targets:
          - name: api
            url: https://a.example.com
          - name: api
            url: https://b.example.com
        """,
        'nephos.yaml:4: targets[1].name: duplicate target name "api" (first at line 2)',
    ),
    (
        "missing-target-name",
        """
        targets:
          - url: https://a.example.com
        """,
        "nephos.yaml:2: targets[0]: missing required key name",
    ),
    (
        "latency-tiers-inverted-against-inherited",
        """
        sentinel:
          latency:
            unhealthy: 2s
        targets:
          - name: api
            url: https://a.example.com
            latency:
              degraded: 5s
        """,
        "nephos.yaml:8: targets[0].latency: degraded (5s) must be below unhealthy "
        "(2s, from sentinel.latency)",
    ),
    (
        "latency-without-unit",
        """
        sentinel:
          latency:
            degraded: 1
        """,
        "nephos.yaml:3: sentinel.latency.degraded: 1 needs a unit here (write e.g. 1s or 1ms)",
    ),
    (
        "timeout-longer-than-interval",
        """
        targets:
          - name: api
            url: https://a.example.com
            interval: 10s
            timeout: 30s
        """,
        "nephos.yaml:5: targets[0].timeout: 30s is longer than interval (10s)",
    ),
    (
        "failing-interval-longer-than-interval",
        """
        sentinel:
          interval: 1m
          failing_interval: 5m
        """,
        "nephos.yaml:3: sentinel.failing_interval: 5m is longer than interval (1m)",
    ),
    (
        "port-out-of-range",
        """
        targets:
          - name: db
            kind: tcp
            host: db.example.com
            port: 70000
        """,
        "nephos.yaml:5: targets[0].port: 70000 is not a port (1-65535)",
    ),
    (
        "unsupported-url-scheme",
        """
        targets:
          - name: files
            url: ftp://files.example.com
        """,
        'nephos.yaml:3: targets[0].url: "ftp://files.example.com" has an unsupported scheme '
        "ftp (use http, https, tcp, tls or dns)",
    ),
    (
        "kind-contradicts-url",
        """
        targets:
          - name: box
            kind: tcp
            url: https://example.com
        """,
        "nephos.yaml:3: targets[0].kind: kind tcp contradicts the url, which makes this an "
        "HTTP check (drop kind, or write the url as tcp://...)",
    ),
    (
        "http-key-on-tcp-target",
        """
        targets:
          - name: ssh
            url: tcp://example.com:22
            method: POST
        """,
        "nephos.yaml:4: targets[0].method: only http targets take method; this is a tcp target",
    ),
    (
        "invalid-expect-regex",
        """
        targets:
          - name: ssh
            url: tcp://example.com:22
            tcp:
              expect: "^SSH-(2"
        """,
        'nephos.yaml:5: targets[0].tcp.expect: "^SSH-(2" is not a regular expression: '
        "missing ), unterminated subpattern at position 5",
    ),
    (
        "http-status-out-of-range",
        """
        targets:
          - name: api
            url: https://a.example.com
            expected_status: [200, 999]
        """,
        "nephos.yaml:4: targets[0].expected_status[1]: 999 is not an HTTP status (100-599)",
    ),
    (
        "public-hub-without-token",
        """
        hub:
          listen: 0.0.0.0:8765
        """,
        "nephos.yaml:2: hub.listen: 0.0.0.0:8765 is reachable from other machines, so "
        "hub.token is required (or listen on 127.0.0.1)",
    ),
    (
        "concurrency-zero",
        """
        sentinel:
          concurrency: 0
        """,
        "nephos.yaml:2: sentinel.concurrency: must be at least 1, got 0",
    ),
    (
        "unknown-notifier-type",
        """
        notifiers:
          ops:
            type: teams
        """,
        'nephos.yaml:3: notifiers.ops.type: "teams" is not one of log, webhook, slack, sns, email',
    ),
    (
        "slack-without-webhook-url",
        """
        notifiers:
          team:
            type: slack
            timeout: 5s
        """,
        "nephos.yaml:2: notifiers.team: slack notifiers need webhook_url",
    ),
    (
        "sns-topic-not-an-arn",
        """
        notifiers:
          pager:
            type: sns
            topic_arn: my-topic
        """,
        'nephos.yaml:4: notifiers.pager.topic_arn: "my-topic" is not an SNS topic ARN '
        "(arn:aws:sns:REGION:ACCOUNT:TOPIC)",
    ),
    (
        "template-placeholder-on-its-own-line",
        """
        notifiers:
          team:
            type: log
            template: |
              {target} is {state}
              for {duraton}
        """,
        "nephos.yaml:6: notifiers.team.template: unknown placeholder {duraton} (known: "
        "{alert_id}, {condition}, {event}, {message}, {severity}, {since}, {state}, {target}, "
        "{title}, {value})",
    ),
    (
        "maintenance-timezone",
        """
        sentinel:
          maintenance:
            - start: "02:00"
              duration: 1h
              timezone: Europe/Pariss
        """,
        'nephos.yaml:5: sentinel.maintenance[0].timezone: "Europe/Pariss" is not a time zone '
        "(did you mean Europe/Paris?)",
    ),
    (
        "maintenance-weekday",
        """
        targets:
          - name: api
            url: https://a.example.com
            maintenance:
              - start: "02:00"
                duration: 1h
                weekdays: [mon, fun]
        """,
        'nephos.yaml:7: targets[0].maintenance[0].weekdays[1]: "fun" is not a weekday '
        "(write mon..sun, or a range mon-fri)",
    ),
    (
        "maintenance-start",
        """
        sentinel:
          maintenance:
            - {start: "25:00", duration: 1h}
        """,
        'nephos.yaml:3: sentinel.maintenance[0].start: "25:00" is not a time of day '
        "(write HH:MM, e.g. 02:30)",
    ),
    (
        "sqlite-takes-no-extra-options",
        """
        storage:
          hot:
            backend: sqlite
            retension: 7d
        """,
        "nephos.yaml:4: storage.hot.retension: unknown key (did you mean retention? sqlite "
        "takes backend, path, retention, spool_dir, spool_max_bytes)",
    ),
    (
        "resolver-is-a-host-name",
        """
        targets:
          - name: dns
            url: dns://example.com
            dns:
              resolvers: [1.1.1.1, dns.google]
        """,
        'nephos.yaml:5: targets[0].dns.resolvers[1]: "dns.google" is not a resolver '
        "(an IP address, optionally with :port)",
    ),
    (
        "interval-too-short",
        """
        targets:
          - name: api
            url: https://a.example.com
            interval: 500ms
        """,
        'nephos.yaml:4: targets[0].interval: "500ms" is too short (minimum 1s)',
    ),
    (
        "two-documents",
        """
        targets: []
        ---
        notifiers: {}
        """,
        "nephos.yaml:2: YAML syntax error: expected a single document in the stream, "
        "but found another document",
    ),
    (
        "target-is-not-a-mapping",
        """
        targets:
          - just-a-name
        """,
        'nephos.yaml:2: targets[0]: expected a mapping of keys, got "just-a-name"',
    ),
]


@pytest.fixture
def workdir(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> pathlib.Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write(directory: pathlib.Path, text: str) -> pathlib.Path:
    path = directory / "nephos.yaml"
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


@pytest.mark.parametrize(
    ("text", "message"), [c[1:] for c in BAD_CONFIGS], ids=[c[0] for c in BAD_CONFIGS]
)
def test_bad_config_is_rejected_with_file_line_path_and_expectation(
    workdir: pathlib.Path, text: str, message: str
) -> None:
    write(workdir, text)
    with pytest.raises(ConfigError) as info:
        load_config("nephos.yaml", env={})
    assert str(info.value) == message
    assert info.value.exit_code == 3


def test_a_tab_indent_is_named_with_its_line(workdir: pathlib.Path) -> None:
    (workdir / "nephos.yaml").write_text("targets:\n\t- name: api\n")
    with pytest.raises(ConfigError) as info:
        load_config("nephos.yaml", env={})
    assert str(info.value) == (
        "nephos.yaml:2: YAML syntax error: found character '\\t' that cannot start any token "
        "(YAML indents with spaces, not tabs)"
    )


def test_the_error_carries_its_parts_for_tools(workdir: pathlib.Path) -> None:
    write(workdir, BAD_CONFIGS[0][1])
    with pytest.raises(ConfigError) as info:
        load_config("nephos.yaml", env={})
    assert (info.value.file, info.value.line, info.value.path) == (
        "nephos.yaml",
        4,
        "targets[0].interval",
    )


def test_recursive_aliases_cannot_expand_without_bound(workdir: pathlib.Path) -> None:
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 7):
        refs = ", ".join([f"*a{i - 1}"] * 10)
        levels.append(f"a{i}: &a{i} [{refs}]")
    (workdir / "nephos.yaml").write_text("insights:\n" + "".join(f"  {x}\n" for x in levels))
    with pytest.raises(ConfigError, match=r"document expands to too many values"):
        load_config("nephos.yaml", env={})


def test_a_secret_in_a_bad_value_is_not_repeated(workdir: pathlib.Path) -> None:
    write(
        workdir,
        """
        notifiers:
          team: {type: slack, webhook_url: "${SLACK_URL}"}
        """,
    )
    with pytest.raises(ConfigError) as info:
        load_config("nephos.yaml", env={"SLACK_URL": "http://hooks.example/SECRET123"})
    assert "SECRET123" not in str(info.value)
    assert str(info.value) == "nephos.yaml:2: notifiers.team.webhook_url: expected a https URL"


# --------------------------------------------------------------------------- the real CLI


def run_cli(*args: str, cwd: pathlib.Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "NEPHOS_CONFIG"}
    return subprocess.run(
        [sys.executable, "-m", "nephos", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


CLI_CASES = [
    "duration-in-words",
    "condition-placeholder",
    "bad-indentation",
    "public-hub-without-token",
    "maintenance-timezone",
    "unset-environment-variable",
]


@pytest.mark.parametrize("case", CLI_CASES)
def test_validate_exits_3_with_one_line_and_no_traceback(tmp_path: pathlib.Path, case: str) -> None:
    _, text, message = next(c for c in BAD_CONFIGS if c[0] == case)
    write(tmp_path, text)
    result = run_cli("config", "validate", "-c", "nephos.yaml", cwd=tmp_path)
    assert result.returncode == 3
    assert result.stderr == f"nephos: {message}\n"
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_validate_reports_a_missing_file_with_exit_3(tmp_path: pathlib.Path) -> None:
    result = run_cli("config", "validate", "--config", "absent.yaml", cwd=tmp_path)
    assert result.returncode == 3
    assert result.stderr == "nephos: config file absent.yaml (from --config) does not exist\n"


def test_validate_json_reports_the_error_fields(tmp_path: pathlib.Path) -> None:
    write(tmp_path, BAD_CONFIGS[1][1])
    result = run_cli("config", "validate", "-c", "nephos.yaml", "--json", cwd=tmp_path)
    assert result.returncode == 3
    assert json.loads(result.stdout) == {
        "ok": False,
        "error": BAD_CONFIGS[1][2],
        "file": "nephos.yaml",
        "line": 4,
        "path": "targets[0].intervall",
    }
    assert "Traceback" not in result.stderr
