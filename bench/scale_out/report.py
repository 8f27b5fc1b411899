"""The scale-out run's report as printed: the throughput table per scenario, the CPU the
processes used, the scenarios alone, the relays, and one line per invariant."""

from __future__ import annotations

from typing import Any


def _fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{label} ×{n}" for label, n in sorted(counts.items())) or "-"


def format_report(report: dict[str, Any]) -> str:
    lines = []
    header = (
        f"{'scenario':<19}{'users':>6}{'requests':>10}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'2xx':>8}  expected non-2xx / unexpected"
    )
    lines += [header, "-" * len(header)]
    users = report.get("users", {})
    for name, row in report.get("scenarios", {}).items():
        shown_users = users.get(name, "*")
        extra = _counts(row["expected_non_2xx"])
        if row["unexpected"] or row["transport_errors"]:
            extra += f" / UNEXPECTED {_counts({**row['unexpected'], **row['transport_errors']})}"
        lines.append(
            f"{name:<19}{shown_users!s:>6}{row['requests']:>10}{_fmt(row['requests_per_s']):>9}"
            f"{_fmt(row['p50_ms'], 2):>9}{_fmt(row['p99_ms'], 2):>9}{row['ok']:>8}  {extra}"
        )
    mix = report.get("mix")
    if mix:
        lines.append(
            "* sent by the users above: a booking retried with its Idempotency-Key, a summary "
            "sent again byte for byte, a check-in code scanned twice at once"
        )
        lines.append("-" * len(header))
        ratio = mix.get("ratio_to_baseline")
        lines.append(
            f"{'mix total':<19}{sum(users.values()):>6}{mix['requests']:>10}"
            f"{_fmt(mix['requests_per_s']):>9}   ratio to baseline {_fmt(ratio, 3)}"
        )
    base = report.get("baseline")
    if base:
        lines.append(
            f"{'baseline':<19}{'':>6}{base['requests']:>10}{_fmt(base['requests_per_s']):>9}"
            f"{_fmt(base['p50_ms'], 2):>9}{_fmt(base['p99_ms'], 2):>9}{base['ok']:>8}  "
            "GET /health/live through nginx, same load generator"
        )
    if mix:
        cpu = mix["cpu"]
        cores = ", ".join(f"{name} {share:.2f}" for name, share in cpu["cores_used"].items())
        lines.append(
            f"\ncores used during the mix: {cores}; machine busy {cpu['machine_busy_share']:.0%} "
            f"of {report['machine']['nproc']} cores; API CPU {cpu['api_cpu_us_per_request']} "
            "µs/request (both processes)"
        )
        split = "; ".join(
            f"{upstream}: {sum(statuses.values())}"
            for upstream, statuses in sorted(mix.get("per_api_process", {}).items())
        )
        lines.append(f"requests per API process during the mix (nginx): {split or '-'}")
        if base:
            lines.append(
                f"baseline: API CPU {base['cpu']['api_cpu_us_per_request']} µs/request; "
                f"machine busy {base['cpu']['machine_busy_share']:.0%}"
            )
    solo = report.get("solo")
    if solo:
        lines.append(
            "\neach scenario alone, its users of the mix (ratio: its req/s ÷ the baseline's; "
            "cpu ratio: the baseline's API µs/req ÷ its own):"
        )
        lines.append(
            f"{'scenario':<19}{'users':>6}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}"
            f"{'API CPU µs/req':>16}{'relay cores':>13}{'ratio':>8}{'cpu ratio':>11}"
        )
        for name, row in solo.items():
            cpu = row["cpu"]
            lines.append(
                f"{name:<19}{row['users']:>6}{_fmt(row['requests_per_s']):>9}"
                f"{_fmt(row['p50_ms'], 2):>9}{_fmt(row['p99_ms'], 2):>9}"
                f"{_fmt(cpu['api_cpu_us_per_request'], 0):>16}"
                f"{_fmt(cpu['cores_used']['workers'], 2):>13}"
                f"{_fmt(row.get('ratio_to_baseline'), 3):>8}"
                f"{_fmt(row.get('cpu_ratio_to_baseline'), 3):>11}"
            )
    for what, key in (
        ("check-in codes", "checkin_codes_ran_out_at_s"),
        ("distinct slots", "distinct_slots_ran_out_at_s"),
    ):
        if mix and mix.get(key) is not None:
            lines.append(f"the {what} ran out {mix[key]:.1f} s into the mix (their users stopped)")
    relay, outbox = report.get("relay"), report.get("outbox")
    if relay and outbox:
        lines.append(
            f"relay: {relay['device_messages_accepted']} device messages accepted by the fake FCM; "
            f"notifications sent per relay {relay['notifications_per_relay']}; outbox drained "
            f"{outbox['drained']} ({outbox['drain_wait_s']} s after the load)"
        )
    lines.append("")
    for name, inv in report.get("invariants", {}).items():
        verdict = "holds" if inv["holds"] else "DOES NOT HOLD"
        lines.append(f"invariant {name}: {verdict} ({inv['detail']})")
    return "\n".join(lines)
