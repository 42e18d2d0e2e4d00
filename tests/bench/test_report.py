"""The benchmark table judges ratio targets against the final reference."""

from __future__ import annotations

from finhub.bench.report import Report, Row, note_failures


def test_a_ratio_target_is_judged_against_the_reference_the_table_shows() -> None:
    report = Report(reference=3_352.0)  # pgbench at the start of the run
    row = report.add(Row("3. service transfers", 2_275.0, "transfers/s"))
    report.judge(row, 0.7)
    report.reference = 3_168.0  # the mean of the start and the end
    line = report.render().splitlines()[2]
    assert "| 0.72× |" in line
    assert line.endswith("| ≥ 0.70× ref | yes |")


def test_failures_or_an_extra_condition_keep_a_target_unmet() -> None:
    report = Report(reference=1_000.0)
    failed = report.add(Row("with failures", 900.0, "req/s"))
    report.judge(failed, 0.5)
    note_failures(failed, 3, "boom")
    slow = report.add(Row("slow", 900.0, "req/s"))
    report.judge(slow, 0.5, target="≥ 0.50× ref, p99 ≤ 50 ms")
    slow.met = False  # its p99 was over 50 ms
    low = report.add(Row("low", 400.0, "req/s"))
    report.judge(low, 0.5)
    verdicts = [line.rsplit("|", 2)[1].strip() for line in report.render().splitlines()[2:5]]
    assert verdicts == ["**no**", "**no**", "**no**"]
    report.reference = 700.0
    verdicts = [line.rsplit("|", 2)[1].strip() for line in report.render().splitlines()[2:5]]
    assert verdicts == ["**no**", "**no**", "yes"]
