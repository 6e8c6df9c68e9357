"""bench/realtime_fanout.py's bookkeeping for --processes, on made-up rows: nothing is run or timed."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
import realtime_fanout  # noqa: E402


def test_clients_are_spread_round_robin_over_every_servers_port():
    assert realtime_fanout.spread(1000, 2, [7001]) == [(7001, 500), (7001, 500)]
    assert realtime_fanout.spread(1000, 2, [7001, 7002]) == [(7001, 500), (7002, 500)]
    assert realtime_fanout.spread(1001, 2, [7001, 7002, 7003, 7004]) == [
        (7001, 251),
        (7002, 250),
        (7003, 250),
        (7004, 250),
    ]


def row(stack, servers, cpu, clients=1000):
    shares = {"servers_machine_share": 0.3, "clients_machine_share": 0.2, "other_machine_share": 0.5}
    return {
        "stack": stack,
        "servers": servers,
        "clients": clients,
        "deliveries_per_s": 20000.0,
        "p50_ms": 1.0,
        "p99_ms": 2.0,
        "lost": 0,
        "cpu_s_per_100k": cpu,
        "rss_mb_per_1000_conn": 20.0,
        "rss_mb_peak": 80.0,
        **shares,
    }


def test_the_table_divides_each_rows_cpu_per_delivery_by_the_one_process_row_of_its_stack_and_clients():
    rows = [row("tornado", 1, 4.0), row("tornado", 2, 4.4), row("tornado", 4, 6.0), row("channels", 1, 20.0)]
    rows.append(row("tornado", 2, 1.0, clients=100))  # no one-process row for 100 clients: no ratio
    lines = realtime_fanout.table(rows).splitlines()
    ratios = [line.split(" | ")[8] for line in lines[2:]]
    assert ratios == ["1.00", "1.10", "1.50", "1.00", "-"]
    assert lines[2].split(" | ")[9] == "30/20/50"
