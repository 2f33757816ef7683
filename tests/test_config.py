"""Valid configs load into the right dataclasses: inheritance, kinds, substitution, lookup."""

from __future__ import annotations

import json
import pathlib
import textwrap
from datetime import timedelta

import pytest

import nephos.config
from nephos.config import (
    Config,
    default_config,
    find_config_file,
    format_duration,
    load_config,
    parse_config,
    parse_duration,
    parse_size,
)
from nephos.errors import ConfigError
from nephos.model import AlertRule, CheckKind, LatencyThresholds, Severity

REPO = pathlib.Path(__file__).resolve().parent.parent
PACKAGED_STARTER = pathlib.Path(nephos.config.__file__).parent / "starter.yaml"


def load(text: str, env: dict[str, str] | None = None) -> Config:
    return parse_config(textwrap.dedent(text), file="nephos.yaml", env=env or {})


# --------------------------------------------------------------------------- shipped files


def test_starter_config_in_repo_is_identical_to_the_packaged_copy() -> None:
    assert (REPO / "config" / "starter.yaml").read_bytes() == PACKAGED_STARTER.read_bytes()


def test_starter_config_is_valid_with_an_empty_environment() -> None:
    config = load_config(str(PACKAGED_STARTER), env={})
    assert [t.kind for t in config.targets] == [
        CheckKind.HTTP,
        CheckKind.HTTP,
        CheckKind.TLS,
        CheckKind.DNS,
        CheckKind.TCP,
    ]
    assert set(config.notifiers) == {"console"}


def test_reference_config_is_valid_and_sets_every_section(tmp_path: pathlib.Path) -> None:
    (tmp_path / "ca.pem").write_text("not checked here\n")
    env = {"CA_DIR": str(tmp_path), "SLACK_WEBHOOK_URL": "https://hooks.slack.test/T/B/x"}
    config = load_config(str(REPO / "config" / "reference.yaml"), env=env)
    assert config.targets and config.notifiers and config.providers and config.insights
    assert {n.type for n in config.notifiers.values()} == {
        "log",
        "webhook",
        "slack",
        "sns",
        "email",
    }
    assert {t.kind for t in config.targets} == set(CheckKind) - {CheckKind.INSTANCE}


def test_an_empty_file_gives_the_defaults_with_its_source() -> None:
    config = parse_config("# nothing yet\n", file="nephos.yaml", env={})
    assert config == Config(source="nephos.yaml")


# --------------------------------------------------------------------------- inheritance


def test_targets_inherit_timing_latency_and_alerts_from_the_sentinel() -> None:
    config = load(
        """
        sentinel:
          interval: 1m
          failing_interval: 15s
          timeout: 5s
          latency: {degraded: 500ms, unhealthy: 2s}
          alerts: [{notify: [ops], failure_threshold: 4}]
        notifiers:
          ops: {type: log}
        targets:
          - name: plain
            url: https://a.example.com
          - name: tuned
            url: https://b.example.com
            interval: 10s
            latency: {degraded: 1s}
            alerts: []
        """
    )
    plain, tuned = config.targets
    assert plain.interval == timedelta(minutes=1)
    assert plain.failing_interval == timedelta(seconds=15)
    assert plain.timeout == timedelta(seconds=5)
    assert plain.latency == LatencyThresholds(timedelta(milliseconds=500), timedelta(seconds=2))
    assert plain.alerts == (AlertRule(notify=("ops",), failure_threshold=4),)
    # A target's own values win; the tier it leaves out still comes from the sentinel.
    assert tuned.interval == timedelta(seconds=10)
    assert tuned.latency == LatencyThresholds(timedelta(seconds=1), timedelta(seconds=2))
    assert tuned.alerts == ()


def test_inherited_timeout_and_failing_interval_shrink_to_a_short_interval() -> None:
    config = load(
        """
        targets:
          - name: fast
            url: https://a.example.com
            interval: 5s
        """
    )
    (fast,) = config.targets
    assert fast.timeout == timedelta(seconds=5)  # the default 10s would exceed the interval
    assert fast.failing_interval is None  # the default 30s re-check would be slower


def test_sentinel_section_reads_every_key() -> None:
    config = load(
        """
        sentinel:
          interval: 90
          failing_interval: off
          concurrency: 50
          flap_window: 20
          flap_threshold: 0.3
          certificate_reminders: [7, 30d, 14]
          offline_when_all_fail: false
          metrics_port: 9464
          maintenance:
            - {start: "02:00", duration: 1h, weekdays: sun}
        """
    )
    sentinel = config.sentinel
    assert sentinel.interval == timedelta(seconds=90)
    assert sentinel.failing_interval is None
    assert (sentinel.concurrency, sentinel.flap_window, sentinel.flap_threshold) == (50, 20, 0.3)
    assert sentinel.certificate_reminders == (30, 14, 7)
    assert sentinel.offline_when_all_fail is False
    assert sentinel.metrics_port == 9464
    assert sentinel.maintenance[0].weekdays == (6,)


# --------------------------------------------------------------------------- target kinds


def test_each_target_form_gives_its_kind_and_address() -> None:
    config = load(
        """
        targets:
          - {name: web, url: "https://example.com/health?x=1"}
          - {name: tcp-url, url: "tcp://db.example.com:5432"}
          - {name: tls-url, url: "tls://example.com"}
          - {name: dns-url, url: "dns://example.com"}
          - {name: tcp-kind, kind: tcp, host: 10.0.0.5, port: 22}
          - {name: tls-v6, kind: tls, address: "[2001:db8::1]:8443"}
          - {name: dns-kind, kind: dns, host: example.org}
        """
    )
    assert [(t.kind, t.address) for t in config.targets] == [
        (CheckKind.HTTP, "https://example.com/health?x=1"),
        (CheckKind.TCP, "db.example.com:5432"),
        (CheckKind.TLS, "example.com:443"),
        (CheckKind.DNS, "example.com"),
        (CheckKind.TCP, "10.0.0.5:22"),
        (CheckKind.TLS, "[2001:db8::1]:8443"),
        (CheckKind.DNS, "example.org"),
    ]


def test_http_options_are_read_and_normalised() -> None:
    config = load(
        """
        targets:
          - name: api
            url: https://api.example.com/v1/items
            method: post
            headers: {Authorization: "Bearer ${TOKEN}", X-Trace: 1}
            body: {query: ping}
            expected_status: 201
            follow_redirects: false
            max_redirects: 0
            max_body: 2MiB
            ip_family: 4
            proxy: http://proxy.internal:3128
            tls: {verify: false, server_name: api.internal, min_version: 1.3}
        """,
        env={"TOKEN": "s3cret"},
    )
    (api,) = config.targets
    assert api.http.method == "POST"
    assert api.http.headers == {
        "Authorization": "Bearer s3cret",
        "X-Trace": "1",
        "Content-Type": "application/json",
    }
    assert json.loads(api.http.body or "") == {"query": "ping"}
    assert api.http.expected_status == (201,)
    assert (api.http.follow_redirects, api.http.max_redirects) == (False, 0)
    assert api.http.max_body_bytes == 2 * 1024 * 1024
    assert api.http.ip_family == "ipv4"
    assert api.http.proxy == "http://proxy.internal:3128"
    assert (api.tls.verify, api.tls.server_name, api.tls.min_version) == (
        False,
        "api.internal",
        "1.3",
    )


def test_dns_and_tcp_options_accept_gatus_spellings() -> None:
    config = load(
        """
        targets:
          - name: mx
            url: dns://example.com
            dns:
              query-type: mx
              resolvers: [1.1.1.1, "9.9.9.9:5353", "[2606:4700::1111]:53"]
              expected: [10 mail.example.com.]
              expected-rcode: nxdomain
          - name: smtp
            url: tcp://mail.example.com:25
            tcp: {send: "EHLO nephos\\r\\n", expect: "^220 "}
        """
    )
    mx, smtp = config.targets
    assert mx.dns.record_type == "MX"
    assert mx.dns.resolvers == ("1.1.1.1", "9.9.9.9:5353", "[2606:4700::1111]:53")
    assert mx.dns.expected == ("10 mail.example.com.",)
    assert mx.dns.expected_rcode == "NXDOMAIN"
    assert smtp.tcp.send == "EHLO nephos\r\n"
    assert smtp.tcp.expect == "^220 "


def test_alert_rules_and_maintenance_windows_are_read() -> None:
    config = load(
        """
        notifiers:
          ops: {type: log}
          pager: {type: sns, topic_arn: "arn:aws:sns:eu-west-1:123456789012:pager"}
        targets:
          - name: api
            url: https://api.example.com
            alerts:
              - notify: [ops, pager]
                failure-threshold: 5
                success-threshold: 1
                send-on-resolved: false
                minimum-reminder-interval: 30m
                severity: Warning
                on_degraded: true
                description: API down
            maintenance:
              - start: 12:30
                duration: 90m
                weekdays: [mon-wed, Friday]
                timezone: Europe/Paris
        """
    )
    (api,) = config.targets
    assert api.alerts == (
        AlertRule(
            notify=("ops", "pager"),
            failure_threshold=5,
            success_threshold=1,
            send_on_resolved=False,
            reminder_interval=timedelta(minutes=30),
            severity=Severity.WARNING,
            on_degraded=True,
            description="API down",
        ),
    )
    (window,) = api.maintenance
    assert window.start == "12:30"  # not the YAML 1.1 base-60 number 750
    assert window.duration == timedelta(minutes=90)
    assert window.weekdays == (0, 1, 2, 4)
    assert window.timezone == "Europe/Paris"


def test_notifiers_keep_their_options_templates_and_events() -> None:
    config = load(
        """
        notifiers:
          team:
            type: slack
            url: ${SLACK_URL}
            timeout: 5s
            title: "{severity}: {target}"
            template: |
              {target} is {state}
              since {since}
            events: [firing, resolved]
          hook:
            type: webhook
            url: https://hooks.example.com/nephos
            headers: {Authorization: Bearer abc}
        """,
        env={"SLACK_URL": "https://hooks.slack.test/T/B/x"},
    )
    team, hook = config.notifiers["team"], config.notifiers["hook"]
    assert team.options == {"webhook_url": "https://hooks.slack.test/T/B/x", "timeout": 5.0}
    assert team.title_template == "{severity}: {target}"
    assert team.template == "{target} is {state}\nsince {since}\n"
    assert team.events == ("firing", "resolved")
    assert hook.options == {
        "url": "https://hooks.example.com/nephos",
        "headers": {"Authorization": "Bearer abc"},
    }


def test_storage_hub_providers_and_insights_sections() -> None:
    config = load(
        """
        storage:
          hot: {backend: dynamodb, retention: 30d, table_prefix: nephos-, region: eu-west-1}
          warehouse: {backend: snowflake, account: xy12345, user: NEPHOS}
        hub: {listen: "0.0.0.0:9000", token: "${HUB_TOKEN}", max_frame_bytes: 64KiB}
        providers:
          vultr: {api_key: "${VULTR_API_KEY}"}
          aws: {regions: [us-east-1]}
        insights: {narrator: openai, base_url: "http://127.0.0.1:11434/v1"}
        targets:
          - {name: box, url: "https://box.example.com", provider: vultr, region: ams}
        """,
        env={"HUB_TOKEN": "t" * 24, "VULTR_API_KEY": "k"},
    )
    assert config.storage.hot.backend == "dynamodb"
    assert config.storage.hot.retention == timedelta(days=30)
    assert config.storage.hot.options == {"table_prefix": "nephos-", "region": "eu-west-1"}
    assert config.storage.warehouse.options == {"account": "xy12345", "user": "NEPHOS"}
    assert (config.hub.listen, config.hub.token) == ("0.0.0.0:9000", "t" * 24)
    assert config.hub.max_frame_bytes == 64 * 1024
    # Each provider class cleans its own options (tests/test_inventory_config.py has more).
    assert set(config.providers) == {"aws", "vultr"}
    assert config.providers["aws"]["regions"] == ("us-east-1",)
    assert config.providers["vultr"]["api_key"] == "k"
    assert config.insights == {"narrator": "openai", "base_url": "http://127.0.0.1:11434/v1"}
    assert (config.targets[0].provider, config.targets[0].region) == ("vultr", "ams")


def test_anchors_and_merge_keys_share_settings_between_targets() -> None:
    config = load(
        """
        targets:
          - &base
            name: one
            url: https://one.example.com
            interval: 30s
            conditions: ["[STATUS] == 200"]
          - <<: *base
            name: two
            url: https://two.example.com
        """
    )
    one, two = config.targets
    assert (two.name, two.interval, two.conditions) == ("two", one.interval, one.conditions)


# --------------------------------------------------------------------------- environment


def test_environment_references_are_substituted_in_values() -> None:
    config = load(
        """
        # ${NOT_SET} in a comment is never read
        hub: {listen: "127.0.0.1:${HUB_PORT}"}
        targets:
          - name: ${NAME:-fallback}
            kind: tcp
            host: ${HOST}
            port: ${PORT}
            group: "${EMPTY:-used when empty}"
            runbook: "costs $$5, see ${HOST}"
            tcp: {expect: "^OK$"}
        """,
        env={"HUB_PORT": "9100", "HOST": "db.example.com", "PORT": "5432", "EMPTY": ""},
    )
    (target,) = config.targets
    assert config.hub.listen == "127.0.0.1:9100"
    assert target.name == "fallback"
    assert target.address == "db.example.com:5432"
    assert target.group == "used when empty"
    assert target.runbook == "costs $5, see db.example.com"
    assert target.tcp.expect == "^OK$"  # a lone $ stays as written


def test_an_unquoted_substitution_is_typed_and_a_quoted_one_stays_text() -> None:
    config = load(
        """
        targets:
          - name: a
            url: https://a.example.com
            enabled: ${ON}
            region: "${NUM}"
        """,
        env={"ON": "false", "NUM": "42"},
    )
    assert config.targets[0].enabled is False
    assert config.targets[0].region == "42"


# --------------------------------------------------------------------------- lookup


@pytest.fixture
def places(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, pathlib.Path]:
    home, work = tmp_path / "home", tmp_path / "work"
    (home / ".config" / "nephos").mkdir(parents=True)
    work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    files = {
        "explicit": tmp_path / "explicit.yaml",
        "env": tmp_path / "env.yaml",
        "cwd": work / "nephos.yaml",
        "home": home / ".config" / "nephos" / "nephos.yaml",
    }
    for name, path in files.items():
        path.write_text(f"targets: [{{name: {name}, url: 'https://{name}.example.com'}}]\n")
    return files


def test_lookup_order_is_explicit_then_env_then_cwd_then_home(
    places: dict[str, pathlib.Path],
) -> None:
    env = {"NEPHOS_CONFIG": str(places["env"])}
    assert find_config_file(str(places["explicit"]), env=env) == str(places["explicit"])
    assert find_config_file(None, env=env) == str(places["env"])
    assert find_config_file(None, env={}) == "nephos.yaml"
    places["cwd"].unlink()
    assert find_config_file(None, env={}) == str(places["home"])
    assert load_config(env={}).targets[0].name == "home"
    places["home"].unlink()
    assert find_config_file(None, env={}) is None
    assert load_config(env={}) == default_config()


def test_a_named_file_that_does_not_exist_is_an_error_not_a_fallback(
    places: dict[str, pathlib.Path],
) -> None:
    with pytest.raises(ConfigError, match=r"^config file nope.yaml \(from --config\) does not"):
        load_config("nope.yaml", env={})
    with pytest.raises(ConfigError, match=r"from \$NEPHOS_CONFIG\) does not exist"):
        load_config(env={"NEPHOS_CONFIG": "/nowhere/nephos.yaml"})


# --------------------------------------------------------------------------- notations


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90),
        ("2m", 120),
        ("48h", 172800),
        ("7d", 604800),
        ("1h30m", 5400),
        ("1h 30m", 5400),
        ("500ms", 0.5),
        ("1.5s", 1.5),
        ("2w", 1209600),
        (45, 45),
        (2.5, 2.5),
        ("30", 30),
    ],
)
def test_parse_duration_reads_units_and_plain_seconds(text: str | float, seconds: float) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2 minutes", '"2 minutes" is not a duration (try 2m)'),
        ("1 hour 30 mins", '"1 hour 30 mins" is not a duration (try 1h30m)'),
        ("soon", '"soon" is not a duration (write e.g. 30s, 2m, 1h30m, 7d)'),
        ("-5s", '"-5s" is negative; a duration cannot be'),
        (True, "true is not a duration (write e.g. 30s, 2m, 48h, 7d)"),
    ],
)
def test_parse_duration_rejects_with_a_suggestion(text: str | bool, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_duration(text)
    assert str(info.value) == message


def test_parse_duration_can_refuse_bare_numbers() -> None:
    with pytest.raises(ConfigError, match=r"^1 needs a unit here \(write e.g. 1s or 1ms\)$"):
        parse_duration(1, allow_number=False)


@pytest.mark.parametrize(
    ("text", "size"),
    [(1024, 1024), ("512KiB", 524288), ("1MiB", 1048576), ("10MB", 10_000_000), ("2 kb", 2000)],
)
def test_parse_size_reads_binary_and_decimal_units(text: str | int, size: int) -> None:
    assert parse_size(text) == size


def test_format_duration_round_trips_through_parse_duration() -> None:
    for text in ("1d2h3m4s", "500ms", "2m", "0s"):
        assert format_duration(parse_duration(text)) == text
