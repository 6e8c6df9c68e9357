"""
Fan-out benchmark of the real-time add-on, with Django Channels 4 as the comparison.

One publisher sends MESSAGES events at RATE per second to one channel; CLIENTS
WebSocket clients (in separate processes) receive them. Measured per stack and
client count: deliveries/s, publish-to-receive latency p50/p99, messages lost,
server CPU seconds per 100k deliveries, server RSS per 1000 connections.

Stacks, both through the same Redis:
- tornado:  the generated `python -m <package>.realtime` (RedisBroker), events
            published straight to Redis as Django's publish() does;
- channels: Channels 4 AsyncWebsocketConsumer under uvicorn with channels-redis'
            RedisPubSubChannelLayer (its pub/sub layer; the classic RedisChannelLayer
            crashed consumers and dropped messages here with redis-py 8),
            events sent with channel_layer.group_send().

Scale-out (--processes 1 2 4): the add-on alone, with N Tornado processes, each on its own
port and all on the one Redis; the client processes are spread round-robin over the ports (at
least one client process per server, so --client-processes is rounded up to a multiple of N).
Per N: server CPU per delivery summed over all N servers and its ratio to N=1's, and how much
of the machine the servers, the load clients (on the same cores) and everything else used
while events flowed. Channels always runs as one process.

bench/run.py runs it as part of the whole benchmark (section 5 of RESULTS.md). Alone, for
a quick experiment (a Python that has cookiecutter; VENV holds the project's
requirements.txt plus bench/requirements-realtime.txt):
    python bench/realtime_fanout.py --venv /tmp/bench-venv [--clients 100 1000]
    python bench/realtime_fanout.py --venv /tmp/bench-venv --stacks tornado --processes 1 2 4
"""

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TEMPLATE = HERE.parent
WORK = HERE / "work"  # git-ignored
SECRET_KEY = "bench-only-secret-key-0123456789abcdefghijklmnopqrstuvwxyz-0123"

CHANNELS_APP = """
import django
from django.conf import settings

settings.configure(
    SECRET_KEY="{secret}",
    INSTALLED_APPS=["channels"],
    CHANNEL_LAYERS={{"default": {{"BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
                                  "CONFIG": {{"hosts": ["{redis}"]}}}}}},
)
django.setup()

from channels.generic.websocket import AsyncWebsocketConsumer  # noqa: E402
from channels.routing import URLRouter  # noqa: E402
from django.urls import path  # noqa: E402


class Fanout(AsyncWebsocketConsumer):
    async def connect(self):
        await self.channel_layer.group_add("demo", self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        await self.channel_layer.group_discard("demo", self.channel_name)

    async def event(self, message):
        await self.send(text_data=message["text"])


application = URLRouter([path("ws", Fanout.as_asgi())])
"""


# ---- roles run inside the venv ------------------------------------------------------------


def client_role(args):
    """Open `count` sockets, say "ready", then receive until each has `messages` or all go quiet."""
    import asyncio

    from tornado.websocket import websocket_connect

    protocols = None
    if args.kind == "tornado":
        sys.path.insert(0, args.project)
        from django.conf import settings

        settings.configure(SECRET_KEY=SECRET_KEY)
        from my_project.realtime.tokens import make_token

        protocols = ["realtime", make_token(None, "demo", key=SECRET_KEY)]

    async def main():
        sockets = []
        for _ in range(args.count):
            sockets.append(await websocket_connect(args.url, subprotocols=protocols))
        if args.kind == "tornado":
            for connection in sockets:
                await connection.read_message()  # {"type": "subscribed"}
        print("ready", flush=True)
        latencies, first, last = [], None, None

        async def drain(connection):
            nonlocal first, last
            got = 0
            while got < args.messages:
                try:
                    text = await asyncio.wait_for(connection.read_message(), 20)
                except TimeoutError:
                    return
                if text is None:
                    return
                now = time.time()
                event = json.loads(text)
                data = event.get("data", event)
                if "sent" not in data or data["seq"] < 0:  # not an event, or a warm-up one
                    continue
                latencies.append(now - data["sent"])
                first = now if first is None else min(first, now)
                last = now if last is None else max(last, now)
                got += 1

        await asyncio.gather(*(drain(connection) for connection in sockets))
        print(json.dumps({"latencies": latencies, "first": first, "last": last}), flush=True)

    asyncio.run(main())


def publisher_role(args):
    started = time.time()
    if args.kind == "tornado":
        import redis

        connection = redis.Redis.from_url(args.redis)

        def send(data):
            frame = json.dumps({"type": "message", "channel": "demo", "data": data}, separators=(",", ":"))
            connection.publish(args.channel, frame)
    else:
        import django
        from django.conf import settings

        layer = {"BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer", "CONFIG": {"hosts": [args.redis]}}
        settings.configure(SECRET_KEY=SECRET_KEY, INSTALLED_APPS=["channels"], CHANNEL_LAYERS={"default": layer})
        django.setup()
        from asgiref.sync import async_to_sync
        from channels.layers import get_channel_layer

        group_send = async_to_sync(get_channel_layer().group_send)

        def send(data):
            group_send("demo", {"type": "event", "text": json.dumps(data)})

    warmup = args.warmup
    for number in range(-warmup, args.messages):  # negative numbers warm both ends up and are not measured
        target = started + (number + warmup) / args.rate
        if (pause := target - time.time()) > 0:
            time.sleep(pause)
        if number == 0:
            measured_from = time.time()
            print("measuring", flush=True)  # the orchestrator reads the server's CPU counter now
        send({"seq": number, "sent": time.time(), "pad": "x" * 100})
    print(json.dumps({"started": measured_from, "finished": time.time()}), flush=True)


# ---- the orchestrator -----------------------------------------------------------------------


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def cpu_seconds(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_cpu_seconds():
    """Busy CPU seconds of the whole machine, all cores (user, nice, system, irq, softirq, steal)."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields[:3]) + sum(fields[5:8])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid, field="VmRSS"):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return 0.0


def bake():
    project = WORK / "project" / "my_project"
    if not project.exists():
        shutil.rmtree(WORK / "project", ignore_errors=True)
        command = [sys.executable, "-m", "cookiecutter", "--no-input", str(TEMPLATE), "-o", str(WORK / "project")]
        subprocess.run([*command, "use_realtime=true"], check=True, capture_output=True)
    return project


def from_tokens(project, python, expression):
    """What an expression of the project's own realtime/tokens.py gives with the bench's SECRET_KEY (as `key`),
    run in the bench venv: the socket token for channel "demo", or that channel's name in Redis."""
    code = (
        f"import sys; sys.path.insert(0, {str(project)!r}); from django.conf import settings; "
        f"settings.configure(SECRET_KEY={SECRET_KEY!r}); from my_project.realtime.tokens import *; "
        f"key = {SECRET_KEY!r}; print({expression})"
    )
    return subprocess.run([python, "-c", code], check=True, capture_output=True, text=True).stdout.strip()


def start_server(kind, python, project, redis_url, port, send_buffer=None, number=0):
    environment = {"PATH": os.environ["PATH"], "REDIS_URL": redis_url, "SECRET_KEY": SECRET_KEY}
    if kind == "tornado":
        environment |= {"DEBUG": "false", "ALLOWED_HOSTS": "127.0.0.1", "LOG_LEVEL": "WARNING"}
        # Every load client connects from 127.0.0.1, standing in for as many people: past the per-address limit
        # (REALTIME_MAX_PER_ADDRESS, 100) the server refuses them, and the table counted their events as lost.
        environment["REALTIME_MAX_PER_ADDRESS"] = "1000000"
        if send_buffer:
            environment["REALTIME_SEND_BUFFER_BYTES"] = str(send_buffer)
        command = [python, "-m", "my_project.realtime", "--port", str(port)]
        cwd = project
    else:
        (WORK / "channels_app.py").write_text(CHANNELS_APP.format(secret=SECRET_KEY, redis=redis_url))
        command = [python, "-m", "uvicorn", "channels_app:application", "--port", str(port), "--log-level", "warning"]
        command += ["--ws", "websockets"]
        cwd = WORK
    process = subprocess.Popen(command, cwd=cwd, env=environment, stderr=open(WORK / f"{kind}{number or ''}.log", "w"))  # noqa: SIM115
    wait_for_port(port)
    time.sleep(0.5)
    return process


@contextlib.contextmanager
def redis_server():
    """A redis-server of our own on a random port, keeping nothing on disk; yields its URL."""
    port = free_port()
    command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    redis = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    try:
        wait_for_port(port)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        redis.terminate()
        redis.wait(10)


def run(kind, clients, args, python, project, redis_url, servers=1):
    """One cell: `clients` sockets on `servers` fresh servers of `kind` (each on its own port, one Redis);
    args has messages, rate, warmup, client_processes, client ("node" or "python") and send_buffer."""
    assert kind == "tornado" or servers == 1, "only the add-on runs as several processes"
    ports = []
    started = []
    try:
        for _ in range(servers):
            ports.append(free_port())
            started.append(start_server(kind, python, project, redis_url, ports[-1], args.send_buffer, len(started)))
        return measure(kind, clients, args, python, project, redis_url, started, ports)
    finally:
        for server in started:
            server.send_signal(signal.SIGTERM)
        for server in started:
            try:
                server.wait(15)
            except subprocess.TimeoutExpired:
                server.kill()


def spread(clients, client_processes, ports):
    """(port, sockets) for each client process: at least one process per port and as many on each (the
    count rounded up to a multiple of the ports), process i on ports[i % len(ports)], sockets split evenly."""
    count = -(-client_processes // len(ports)) * len(ports)
    sizes = [clients // count + (number < clients % count) for number in range(count)]
    return [(ports[number % len(ports)], size) for number, size in enumerate(sizes)]


def measure(kind, clients, args, python, project, redis_url, servers, ports):
    """run() once its servers listen: client process i connects to ports[i % len(ports)]."""
    pids = [server.pid for server in servers]
    rss_before = sum(rss_mb(pid) for pid in pids)
    processes = []
    for port, count in spread(clients, args.client_processes, ports):
        url = f"ws://127.0.0.1:{port}/ws?channel=demo"
        if args.client == "node":
            role = ["node", "--experimental-websocket", str(HERE / "fanout_client.mjs"), url, str(count)]
            token = from_tokens(project, python, "make_token(None, 'demo', key=key)") if kind == "tornado" else None
            role += [str(args.messages), *(["realtime", token] if token else [])]
        else:
            role = [python, __file__, "--role", "client", "--kind", kind, "--project", str(project)]
            role += ["--url", url, "--count", str(count), "--messages", str(args.messages)]
        processes.append(subprocess.Popen(role, stdout=subprocess.PIPE, text=True, stderr=subprocess.DEVNULL))
    for process in processes:
        assert process.stdout.readline().strip() == "ready", "a client process died"
    time.sleep(1)
    rss_after = sum(rss_mb(pid) for pid in pids)
    publisher = [python, __file__, "--role", "publisher", "--kind", kind, "--redis", redis_url]
    if kind == "tornado":  # the name Django's publish() gives channel "demo" in Redis
        publisher += ["--channel", from_tokens(project, python, "channel_namespace(key) + 'demo'")]
    publisher += ["--messages", str(args.messages), "--rate", str(args.rate), "--warmup", str(args.warmup)]
    publishing = subprocess.Popen(publisher, stdout=subprocess.PIPE, text=True)
    assert publishing.stdout.readline().strip() == "measuring", "the publisher died"
    clock_before = time.monotonic()
    machine_before = machine_cpu_seconds()
    cpu_before = sum(cpu_seconds(pid) for pid in pids)
    clients_before = sum(cpu_seconds(process.pid) for process in processes)
    published = json.loads(publishing.stdout.readline())
    assert publishing.wait(60) == 0
    results = [json.loads(process.stdout.readline()) for process in processes]
    # A client that printed may have exited, but until wait() reaps it its /proc entry keeps its CPU time.
    clients_after = sum(cpu_seconds(process.pid) for process in processes)
    cpu_after = sum(cpu_seconds(pid) for pid in pids)
    machine_after = machine_cpu_seconds()
    clock_after = time.monotonic()
    for process in processes:
        process.wait(60)
    rss_peak = sum(rss_mb(pid, "VmHWM") for pid in pids)  # the high-water marks over the whole run
    latencies = sorted(value for result in results for value in result["latencies"])
    received = len(latencies)
    last = max((result["last"] for result in results if result["last"]), default=published["finished"])
    quantiles = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [float("nan")] * 99
    capacity = (clock_after - clock_before) * os.cpu_count()  # CPU seconds the machine had meanwhile
    return {
        "stack": kind,
        "servers": len(pids),
        "client_processes": len(processes),
        "clients": clients,
        "deliveries": received,
        "lost": args.messages * clients - received,
        "failed_connections": sum(result.get("failed", 0) for result in results),
        "deliveries_per_s": received / (last - published["started"]),
        "p50_ms": 1000 * quantiles[49],
        "p99_ms": 1000 * quantiles[98],
        "cpu_s_per_100k": (cpu_after - cpu_before) / max(received, 1) * 100_000,
        "servers_machine_share": (cpu_after - cpu_before) / capacity,
        "clients_machine_share": (clients_after - clients_before) / capacity,
        "other_machine_share": (
            (machine_after - machine_before) - (cpu_after - cpu_before) - (clients_after - clients_before)
        )
        / capacity,
        "rss_mb_per_1000_conn": (rss_after - rss_before) / clients * 1000,
        "rss_mb_idle": rss_before,
        "rss_mb_peak": rss_peak,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--role", choices=["client", "publisher"])
    parser.add_argument("--kind", choices=["tornado", "channels"])
    parser.add_argument("--venv", default="/tmp/bench-venv")
    parser.add_argument("--clients", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--stacks", nargs="+", default=["tornado", "channels"])
    parser.add_argument("--messages", type=int, default=400)
    parser.add_argument("--rate", type=float, default=200, help="events per second from the publisher")
    parser.add_argument("--warmup", type=int, default=20, help="unmeasured events first")
    parser.add_argument("--client-processes", type=int, default=2)
    parser.add_argument("--send-buffer", type=int, help="REALTIME_SEND_BUFFER_BYTES for the Tornado server")
    parser.add_argument("--client", choices=["node", "python"], default="node", help="node: lighter clients")
    parser.add_argument(
        "--processes", type=int, nargs="+", default=[1], help="Tornado server processes, one cell per count (1 2 4)"
    )
    for internal in ("--project", "--url", "--redis", "--count", "--channel"):  # for the client and publisher roles
        parser.add_argument(internal, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role:
        args.count = int(args.count or 0)
        return client_role(args) if args.role == "client" else publisher_role(args)

    WORK.mkdir(exist_ok=True)
    project = bake()
    python = str(Path(args.venv) / "bin" / "python")
    with redis_server() as redis_url:
        rows = []
        for clients in args.clients:
            for kind in args.stacks:
                for servers in args.processes if kind == "tornado" else [1]:
                    print(f"{kind}, {clients} clients, {servers} server process(es)", file=sys.stderr, flush=True)
                    rows.append(run(kind, clients, args, python, project, redis_url, servers))
    print(
        f"\n{args.messages} events at {args.rate:g}/s, {args.client_processes} {args.client} client processes "
        f"(rounded up to a multiple of the servers), {os.cpu_count()} CPUs, "
        f"REALTIME_SEND_BUFFER_BYTES={args.send_buffer or 'default'}"
    )
    print(table(rows))
    (WORK / f"results-{int(time.time())}.json").write_text(json.dumps({"args": vars(args), "rows": rows}, indent=2))


def table(rows):
    """The rows as a Markdown table. "x 1 proc": the server CPU per delivery (summed over all of the
    stack's processes) over the same stack's with one process and as many clients. "machine %": shares
    of all cores while events flowed, for the servers, the load clients and everything else."""
    columns = ["stack", "procs", "clients", "deliveries/s", "p50 ms", "p99 ms", "lost", "CPU s/100k deliveries"]
    columns += ["x 1 proc", "machine % servers/clients/other", "RSS MB/1000 conn", "peak RSS MB"]
    lines = ["| " + " | ".join(columns) + " |", "|---" * len(columns) + "|"]
    for row in rows:
        key = (row["stack"], row["clients"], 1)
        single = next((one for one in rows if (one["stack"], one["clients"], one.get("servers", 1)) == key), None)
        ratio = "-"
        if single and single["cpu_s_per_100k"]:
            ratio = f"{row['cpu_s_per_100k'] / single['cpu_s_per_100k']:.2f}"
        shares = "/".join(f"{100 * row[f'{part}_machine_share']:.0f}" for part in ("servers", "clients", "other"))
        lines.append(
            f"| {row['stack']} | {row.get('servers', 1)} | {row['clients']} | {row['deliveries_per_s']:,.0f} | "
            f"{row['p50_ms']:.1f} | {row['p99_ms']:.1f} | {row['lost']} | {row['cpu_s_per_100k']:.2f} | {ratio} | "
            f"{shares} | {row['rss_mb_per_1000_conn']:.1f} | {row['rss_mb_peak']:.0f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
