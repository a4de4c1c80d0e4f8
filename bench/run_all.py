"""Run every benchmark with the scenarios the project tracks; each prints one JSON line."""

from __future__ import annotations

import subprocess
import sys

SCENARIOS = [
    ["bench.fanout", "--subscribers", "100", "--rate", "50", "--seconds", "20", "--name", "fanout_100subs_50mps"],
    ["bench.fanout", "--subscribers", "1000", "--rate", "5", "--seconds", "20", "--name", "fanout_1000subs_5mps"],
    ["bench.fanout", "--subscribers", "100", "--rate", "200", "--rate", "400", "--rate", "600", "--rate", "800",
     "--rate", "1000", "--seconds", "5", "--name", "fanout_100subs_max_rate"],
    # the same with two server processes (serve --workers 2): how fan-out scales per core
    ["bench.fanout", "--subscribers", "100", "--rate", "200", "--rate", "400", "--rate", "600", "--rate", "800",
     "--rate", "1000", "--seconds", "5", "--workers", "2", "--name", "fanout_100subs_max_rate_2w"],
    ["bench.fanout", "--subscribers", "100", "--rate", "50", "--seconds", "20", "--via", "api",
     "--name", "fanout_100subs_50mps_api"],
    ["bench.longpoll", "--waiters", "1000"],
    ["bench.idle_ws", "--connections", "5000"],
    ["bench.browser"],
    ["bench.burst"],
    ["bench.stress", "--seeds", "40", "--scale", "2"],
    ["bench.notify_commits"],
    ["bench.flood"],
    ["bench.ratelimit"],
    # the send path through the API (issue 17): latency at 2 and 50 msg/s, highest loss-free rate,
    # write commits/s with and without group commit, deliveries per server CPU-second
    ["bench.send"],
    # where a lone send's time goes: HTTP, the send function in Postgres, the commit
    ["bench.send_breakdown"],
    # what the machine allows with no chat server: a trivial process relaying a line to 100 sockets
    ["bench.floor"],
    # reactions to one message fanned out to 100 sockets (issue 15)
    ["bench.reactions", "--subscribers", "100", "--reactions", "200", "--rate", "20"],
    # a visitor's sends while four neighbours behind the same address upload 5 MiB files (issue 18 #9)
    ["bench.neighbours"],
    # the catch-up query on a 1M-row table, before and after issue 18's per-chat range scans
    ["bench.catchup"],
    # pg_ctl restart -m fast behind PgBouncer with WebSocket and long-poll readers (issue 18 #1)
    ["bench.pg_restart", "--runs", "1"],
    # the agents' inbox list with 100,000 conversations: query times and their index plans (issue 16)
    ["bench.inbox"],
    # 20 agents hold the inbox open while 500 visitors chat at 5 msg/s: every event to every agent
    ["bench.agents", "--seconds", "30"],
    # presence with 5,000 connected accounts in 1,000 chats: events, NOTIFYs and writes per second (issue 15)
    ["bench.presence"],
]


def main() -> None:
    failed = 0
    for args in SCENARIOS:
        print(f"# {' '.join(args)}", file=sys.stderr, flush=True)
        failed += subprocess.call([sys.executable, "-m", *args]) != 0
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
