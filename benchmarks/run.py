"""One benchmark run: modelserve against the Flask floor, the textbook app, FastAPI, BentoML.

    make bench                      # or: .venv/bin/python benchmarks/run.py [--duration 5 --runs 3]
    .venv/bin/python benchmarks/run.py --only floor bentoml     # a subset (keep the floor)

The peers serve the same model file: FastAPI + uvicorn from a side venv, benchmarks/.peers-venv,
and BentoML 1.4 (apps/bento_service.py) from another, benchmarks/.bentoml-venv, with the same
numpy/scikit-learn/joblib versions as this venv and usage tracking off; both venvs are built
on first use, never in the project's venv. If BentoML cannot be installed or started here, the
table says "not measured" and why, and the rest of the run goes on.

Every server starts alone (so its start-up is timed alone), on a free port, with 2 worker
processes; then wrk (Debian's package, one thread) drives one scenario at a time for
`--duration` seconds, going round all scenarios `--runs` times, and the median is reported.
Throughput on a shared machine drifts, so every number is also given as a ratio to the floor
measured in the same run. Memory is the RSS and PSS of every process of the server (from
/proc/PID/smaps_rollup); CPU is user+system time of those processes (reaped workers included)
per request, which drifts less than throughput.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from urllib.parse import urlencode

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
VENV_BIN = Path(sys.executable).parent
PEERS_VENV = HERE / ".peers-venv"
PEERS = ["fastapi", "uvicorn[standard]"]
BENTOML_VENV = HERE / ".bentoml-venv"
BENTOML = "bentoml==1.4.40"
SAME_AS_HERE = ("numpy", "scikit-learn", "joblib")  # pinned in the BentoML venv to this venv's
CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
BATCH_ROWS = 10_000
STARTUP: dict[str, float] = {}  # seconds from launch to the first 200 of the readiness path
ROW = {"estudio": 6, "sueno": 8}


@dataclass
class Server:
    name: str
    argv: list[str]
    ready_path: str
    env: dict[str, str] = field(default_factory=dict)
    # Optional peers: a reason here, or a failure to start, is reported instead of measured.
    optional: bool = False
    unavailable: str = ""


class ServerFailed(RuntimeError):
    """A server exited or never got ready."""


@dataclass
class Scenario:
    server: str
    label: str
    path: str
    connections: int
    body: Path | None = None
    content_type: str = "application/json"
    rows: int = 1
    cookie: str = ""


@dataclass
class Result:
    scenario: Scenario
    rate: float
    p50_ms: float
    p99_ms: float
    cpu_us: float
    errors: int


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tree(pid: int) -> list[int]:
    """`pid` and all its descendants."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def memory_mib(pid: int) -> tuple[float, float]:
    """Total RSS and PSS of the process tree, MiB."""
    rss = pss = 0
    for p in tree(pid):
        try:
            text = Path(f"/proc/{p}/smaps_rollup").read_text()
        except OSError:
            continue
        rss += int(re.search(r"^Rss:\s+(\d+)", text, re.M).group(1))  # type: ignore[union-attr]
        pss += int(re.search(r"^Pss:\s+(\d+)", text, re.M).group(1))  # type: ignore[union-attr]
    return rss / 1024, pss / 1024


def started_at(pid: int) -> str:
    """The start time of a process in clock ticks since boot ("" once it is gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of the process tree so far."""
    ticks = 0
    for p in tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # utime + stime, and cutime + cstime: workers that exited and were reaped still count
        ticks += sum(int(f) for f in fields[11:15])
    return ticks / os.sysconf("SC_CLK_TCK")


def get(url: str, data: bytes | None = None, headers: dict[str, str] | None = None):
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.headers, error.read()


@contextmanager
def running(server: Server, port: int, logs: Path) -> Iterator[subprocess.Popen]:
    """Start the server, wait for its readiness path, stop it (SIGTERM) afterwards."""
    env = {**os.environ, **server.env}
    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):  # they slow a current numpy
        env.pop(var, None)
    argv = [a.replace("{port}", str(port)) for a in server.argv]
    log = (logs / f"{server.name.replace(' ', '-')}.log").open("w")
    started = time.perf_counter()
    process = subprocess.Popen(
        argv, env=env, cwd=HERE, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        wait_ready(process, f"http://127.0.0.1:{port}{server.ready_path}", logs / log.name)
        # textbook and fastapi have no readiness path: a 405 from GET /predict means up.
        STARTUP[server.name] = time.perf_counter() - started
        yield process
    finally:
        workers = [(p, started_at(p)) for p in tree(process.pid)[1:]]
        # ^ BentoML's workers run in sessions of their own: killpg does not reach them
        with suppress(ProcessLookupError):  # already gone if it failed to start
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        for pid, start in workers:  # normally gone with their parent; never leave one behind
            if start and started_at(pid) == start:  # still that process, not a reused id
                with suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        log.close()


def wait_ready(process: subprocess.Popen, url: str, log: Path) -> None:
    deadline = time.monotonic() + 120  # BentoML takes 10-20 s on a busy 2-core machine
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerFailed(f"server exited ({process.returncode}):\n{tail(log)}")
        try:
            if get(url)[0] in (200, 405):
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise ServerFailed(f"{url} never answered 200:\n{tail(log)}")


def tail(log: Path, lines: int = 30) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def wrk(url: str, scenario: Scenario, seconds: float) -> dict:
    script = "post.lua" if scenario.body else "get.lua"
    argv = [
        "wrk", "-t1", f"-c{scenario.connections}", f"-d{round(seconds)}s", "--timeout", "10s",
        "-s", str(HERE / "lua" / script), url,
    ]  # fmt: skip
    if scenario.body:
        argv += ["--", str(scenario.body), scenario.content_type]
        argv += [scenario.cookie] if scenario.cookie else []
    env = {**os.environ, "LUA_PATH": f"{HERE / 'lua'}/?.lua;;"}
    out = subprocess.run(argv, env=env, capture_output=True, text=True, check=True).stdout
    line = next(x for x in out.splitlines() if x.startswith("BENCH "))
    return json.loads(line[len("BENCH ") :])


def sample(base: str, pid: int, scenario: Scenario, seconds: float) -> dict:
    """One wrk run, with the CPU time the server's processes spent meanwhile."""
    cpu_before = cpu_seconds(pid)
    stats = wrk(base + scenario.path, scenario, seconds)
    stats["cpu"] = cpu_seconds(pid) - cpu_before
    return stats


def summarize(scenario: Scenario, samples: list[dict]) -> Result:
    """Medians over the runs of one scenario."""
    rate = statistics.median(
        s["requests"] / (s["duration_us"] / 1e6) * scenario.rows for s in samples
    )
    return Result(
        scenario,
        rate,
        statistics.median(s["p50_us"] for s in samples) / 1000,
        statistics.median(s["p99_us"] for s in samples) / 1000,
        statistics.median(s["cpu"] / max(s["requests"], 1) * 1e6 for s in samples),
        sum(s["errors"] + s["status_errors"] for s in samples),
    )


def write_bodies(folder: Path) -> dict[str, Path]:
    single = folder / "single.json"
    single.write_text(json.dumps(ROW))
    batch = folder / "batch.json"
    rows = [{"estudio": (i % 97) / 9.7, "sueno": 3 + (i % 71) / 10.1} for i in range(BATCH_ROWS)]
    batch.write_text(json.dumps({"instances": rows}))
    return {"single": single, "batch": batch}


def form_session(base: str, folder: Path) -> tuple[Path, str]:
    """A session cookie and the form body with its CSRF token (one session for the whole run)."""
    status, headers, page = get(base + "/models/exam")
    token = CSRF_RE.search(page.decode())
    assert status == 200 and token, "no form at /models/exam"
    cookie = headers.get("Set-Cookie", "").split(";", 1)[0]
    body = folder / "form.txt"
    body.write_text(urlencode({"csrf_token": token.group(1), "f0": "6", "f1": "8"}))
    check = get(
        base + "/models/exam",
        body.read_bytes(),
        {"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie},
    )
    assert check[0] == 200, f"form POST answered {check[0]}"
    return body, cookie


def peers_python() -> Path:
    """A side venv with FastAPI and uvicorn that sees this venv's numpy and scikit-learn."""
    python = PEERS_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(PEERS_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *PEERS], check=True)
        # Same numpy/scikit-learn/joblib as the others: append this venv's site-packages.
        site = next(p for p in sys.path if p.endswith("site-packages"))
        peers_site = subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        Path(peers_site, "modelserve-venv.pth").write_text(site + "\n")
    return python


def bentoml_python() -> tuple[Path, str]:
    """A side venv with BentoML and this venv's numpy/scikit-learn/joblib versions.

    BentoML brings its own numpy, so the venv gets pins rather than a .pth to this venv's
    site-packages (two numpys on one path would mix). Returns (python, "") or (python, why
    it could not be installed); a failed install is retried on the next run.
    """
    python = BENTOML_VENV / "bin" / "python"
    done = BENTOML_VENV / ".installed"
    pins = [BENTOML, *(f"{p}=={metadata.version(p)}" for p in SAME_AS_HERE)]
    if done.exists() and done.read_text() == " ".join(pins):
        return python, ""
    print(f"installing {' '.join(pins)} into {BENTOML_VENV} ...", file=sys.stderr)
    try:
        if not python.exists():
            subprocess.run(
                [sys.executable, "-m", "venv", str(BENTOML_VENV)], check=True, capture_output=True
            )
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", *pins],
            check=True,
            capture_output=True,
            text=True,
            timeout=1800,
        )
    except subprocess.CalledProcessError as error:
        lines = (error.stderr or "").splitlines()
        lines = [x for x in lines if x.startswith("ERROR")][-1:] or lines[-1:]
        return python, f"`pip install {' '.join(pins)}` failed: {' '.join(lines)[:300]}"
    except (subprocess.TimeoutExpired, OSError) as error:
        return python, f"`pip install {' '.join(pins)}` failed: {error}"
    done.write_text(" ".join(pins))
    return python, ""


def bentoml_server(model_env: dict[str, str], home: Path) -> Server:
    python, why = bentoml_python()
    argv = [str(python), "-m", "bentoml", "serve", "apps.bento_service:Exam"]
    argv += ["--working-dir", str(HERE), "--host", "127.0.0.1", "--port", "{port}"]
    return Server(
        "bentoml",
        argv,
        "/readyz",
        {
            **model_env,
            "BENTOML_DO_NOT_TRACK": "true",  # no usage tracking (it posts to t.bentoml.com)
            "BENTOML_HOME": str(home),  # its model/bento store and Prometheus files, not ~/bentoml
        },
        optional=True,
        unavailable=why,
    )


def servers(models: Path, instance: Path, only: list[str] | None = None) -> list[Server]:
    """The servers to measure, in table order; side venvs are built only for those wanted."""

    def wanted(name: str) -> bool:
        return not only or name in only

    serve = [str(VENV_BIN / "modelserve"), "serve", str(models / "exam"), "--port", "{port}"]
    gunicorn = [str(VENV_BIN / "gunicorn"), "-w", "2", "-k", "sync", "-b", "127.0.0.1:{port}"]
    gunicorn += ["--no-control-socket", "--chdir", str(HERE)]
    model_env = {"BENCH_MODEL": str(models / "exam" / "model.joblib")}
    found = [
        Server("floor", [*gunicorn, "apps.floor:app"], "/"),
        Server("textbook", [*gunicorn, "apps.textbook:app"], "/predict", model_env),
    ]
    if wanted("fastapi"):
        found.append(
            Server(
                "fastapi",
                [
                    str(peers_python()),
                    "-m",
                    "uvicorn",
                    "apps.fastapi_app:app",
                    "--workers",
                    "2",
                    "--port",
                    "{port}",
                    "--log-level",
                    "warning",
                    "--no-access-log",
                ],
                "/predict",
                model_env,
            )
        )
    if wanted("bentoml"):
        found.append(bentoml_server(model_env, models.parent / "bentoml-home"))
    found += [
        Server(
            "modelserve",
            serve,
            "/readyz",
            {"MODELSERVE_INSTANCE_PATH": str(instance)},
        ),
        Server(  # gthread workers: concurrent requests are micro-batched
            "modelserve gthread",
            [*serve, "--threads", "4"],
            "/readyz",
            {"MODELSERVE_INSTANCE_PATH": str(instance)},
        ),
    ]
    return [s for s in found if wanted(s.name)]


def scenarios(name: str, bodies: dict[str, Path], conns: list[int]) -> list[Scenario]:
    if name == "floor":
        return [Scenario(name, "hello (GET)", "/", c) for c in conns]
    path = "/api/v1/models/exam/predict" if name.startswith("modelserve") else "/predict"
    found = [Scenario(name, "single row JSON", path, c, bodies["single"]) for c in conns]
    if name == "modelserve":
        found.append(
            Scenario(
                name, f"batch {BATCH_ROWS:,} rows JSON", path, 2, bodies["batch"], rows=BATCH_ROWS
            )
        )
    return found


def run(
    args: argparse.Namespace, work: Path
) -> tuple[list[Result], dict[str, tuple], dict[str, str]]:
    """Start every server (one at a time, so start-up is timed alone), then interleave.

    Runs go round all scenarios `--runs` times: load from elsewhere on a shared machine then
    drifts over every server alike instead of favouring whichever ran in a quiet minute.
    Idle servers cost nothing while another is measured.
    """
    from modelserve.demo import ensure_demo_models

    ensure_demo_models(work / "models")
    bodies = write_bodies(work)
    todo: list[tuple[str, int, Scenario]] = []
    facts, pids, skipped = {}, {}, {}
    chosen = servers(work / "models", work / "instance", args.only)
    with ExitStack() as stack:
        for server in chosen:
            try:
                todo += start(stack, server, bodies, args, work, pids)
            except (ServerFailed, AssertionError) as error:
                if not server.optional:
                    sys.exit(str(error))
                skipped[server.name] = str(error)
            if server.name in skipped or server.unavailable:
                why = skipped.setdefault(server.name, server.unavailable)
                print(f"{server.name} NOT MEASURED: {why}", file=sys.stderr)
        for base, _, scenario in todo:
            wrk(base + scenario.path, scenario, 1)  # warm-up: every worker has served
        samples: list[list[dict]] = [[] for _ in todo]
        for round_ in range(args.runs):
            print(f"  round {round_ + 1} of {args.runs}", file=sys.stderr)
            for found, (base, pid, scenario) in zip(samples, todo, strict=True):
                found.append(sample(base, pid, scenario, args.duration))
        for server in chosen:
            if server.name in pids and server.name not in skipped:
                facts[server.name] = (*memory_mib(pids[server.name]), STARTUP[server.name])
    results = [summarize(s, found) for (_, _, s), found in zip(todo, samples, strict=True)]
    return results, facts, skipped


def start(
    stack: ExitStack,
    server: Server,
    bodies: dict[str, Path],
    args: argparse.Namespace,
    work: Path,
    pids: dict[str, int],
) -> list[tuple[str, int, Scenario]]:
    """Start one server (stopped when `stack` closes) and list its scenarios; [] if unavailable.

    An optional server that fails to start is stopped at once, not left running.
    """
    if server.unavailable:
        return []
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with ExitStack() as own:
        pids[server.name] = own.enter_context(running(server, port, work)).pid
        found = [
            (base, pids[server.name], s) for s in server_scenarios(server, base, bodies, args, work)
        ]
        stack.push(own.pop_all())
    return found


def server_scenarios(
    server: Server, base: str, bodies: dict[str, Path], args: argparse.Namespace, work: Path
) -> list[Scenario]:
    if server.name in ("textbook", "fastapi", "bentoml"):  # peers: prove they answer
        status, _, answer = get(base + "/predict", bodies["single"].read_bytes(), JSON)
        assert status == 200, f"POST /predict answered {status}: {answer[:300]!r}"
        assert b'"probabilities"' in answer, f"POST /predict answered {answer[:300]!r}"
    todo = scenarios(server.name, bodies, args.connections)
    if server.name == "modelserve":
        form, cookie = form_session(base, work)
        todo += [
            Scenario(server.name, "form POST", "/models/exam", c, form, FORM, cookie=cookie)
            for c in args.connections
        ]
    wanted = args.scenarios
    return [s for s in todo if not wanted or s.server == "floor" or s.label in wanted]


JSON = {"Content-Type": "application/json"}
FORM = "application/x-www-form-urlencoded"


def table(results: list[Result], facts: dict[str, tuple], skipped: dict[str, str]) -> str:
    floor = {r.scenario.connections: r for r in results if r.scenario.server == "floor"}
    lines = [
        "| server | scenario | conns | req/s (rows/s) | ratio to floor | p50 ms | p99 ms "
        "| p99 / floor p99 | CPU µs/req | errors |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        s = r.scenario
        base = floor.get(s.connections) or floor.get(16)
        rate = f"{r.rate:,.0f}" + (" rows/s" if s.rows > 1 else "")
        ratio = f"{r.rate / base.rate:.2f}" if base and s.rows == 1 else "–"
        p99 = f"{r.p99_ms / base.p99_ms:.2f}" if base and s.rows == 1 else "–"
        lines.append(
            f"| {s.server} | {s.label} | {s.connections} | {rate} | {ratio} | {r.p50_ms:.2f} "
            f"| {r.p99_ms:.2f} | {p99} | {r.cpu_us:,.0f} | {r.errors} |"
        )
    for name, why in skipped.items():
        text = " ".join(why.replace("|", "/").split())  # one table cell
        text = text if len(text) <= 400 else f"{text[:200]} … {text[-200:]}"
        lines.append(f"| {name} | **not measured**: {text} | – | – | – | – | – | – | – | – |")
    lines += [
        "",
        "| server | RSS MiB (all processes) | PSS MiB | ready after s |",
        "|---|---|---|---|",
    ]
    lines += [f"| {n} | {rss:.0f} | {pss:.0f} | {up:.2f} |" for n, (rss, pss, up) in facts.items()]
    lines += [f"| {n} | not measured | – | – |" for n in skipped]
    return "\n".join(lines)


def machine(args: argparse.Namespace) -> str:
    cpu = next(
        (x.split(":", 1)[1].strip() for x in Path("/proc/cpuinfo").read_text().splitlines()
         if x.startswith("model name")),
        "?",
    )  # fmt: skip
    mem = int(Path("/proc/meminfo").read_text().split()[1]) / 1024 / 1024
    versions = ", ".join(
        f"{p} {metadata.version(p)}" for p in ("flask", "gunicorn", "numpy", "scikit-learn")
    )
    return (
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {os.cpu_count()} cores ({cpu}), "
        f"{mem:.0f} GiB; {platform.platform()}; Python {platform.python_version()}; {versions}; "
        f"wrk -t1, {args.duration:g} s x {args.runs} interleaved rounds over all scenarios "
        f"(median), after a 1 s warm-up."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--connections", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument(
        "--only", nargs="*", help="server names to run (include floor for the ratios)"
    )
    parser.add_argument("--output", type=Path, help="also write the table to this file")
    parser.add_argument(
        "--scenarios",
        nargs="*",
        help="scenario labels to run, e.g. 'form POST' (the floor's always runs, for the ratios)",
    )
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is missing: apt-get install wrk")
    with tempfile.TemporaryDirectory(prefix="modelserve-bench-") as tmp:
        results, facts, skipped = run(args, Path(tmp))
    report = f"{machine(args)}\n\n{table(results, facts, skipped)}\n"
    if "bentoml" in facts:
        pins = (BENTOML_VENV / ".installed").read_text()
        report += f"\nbentoml: {pins} in its own venv, {BENTOML_VENV.name}; tracking off.\n"
    print(report)
    if args.output:
        args.output.write_text(report)


if __name__ == "__main__":
    main()
