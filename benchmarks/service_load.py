"""Load test of the REST service (``faceprint serve``) on loopback, with LFW images.

Starts the real server as a subprocess of this venv on a free 127.0.0.1 port, with a
fresh temporary gallery and keys file (one ``*:write`` key made with
``faceprint keys create``), waits for ``/v1/health``, runs four phases and always stops
the server at the end (SIGINT, then SIGTERM, then SIGKILL):

1. verify: ``--clients`` concurrent clients (an httpx2 ``AsyncClient`` with one
   connection each) POST ``/v1/verify`` with the two images of the first ``--pairs``
   LFW pairs, cycled; ``--warmup`` seconds are not counted, then ``--duration`` are;
2. search: one image each of ``--gallery-people`` LFW people is enrolled through
   ``POST /v1/collections/{cid}/persons/{pid}/faces``; then ``--clients`` clients POST
   ``/v1/collections/{cid}/search`` with other images of those people;
3. claims: ``--clients`` clients POST ``…/persons/{pid}/verify`` (1:1 claims against the
   search phase's people): nine in ten name the probe's own person, the tenth another
   person (an impostor claim);
4. enroll + search ("no lost writes"): ``--enroll-clients`` clients enroll
   ``--enroll-items`` distinct (person, image) items once each, one image per request
   (consecutive items belong to the same person, so concurrent requests race on the
   same person, its creation included), while ``--search-clients`` clients search that
   collection. Afterwards ``GET …/persons`` must hold every face the server said it
   accepted: lost = accepted − stored must be 0, and no face id may be handed out twice.

Every image is read into memory first. Latencies are of 2xx answers to requests that
started inside the measured window; req/s = those requests / (last completion − window
start). The clients share the cores with the server, and so does anything else running,
so each phase reports the cores busy on average in the server, in this client and in
other processes (from /proc); ``--wait-quiet`` waits for the machine to be idle first.
The service runs with its shipped defences (budgets, hill-climbing detection); the
security events it logged (docs/security.md) are reported: a normal load should raise
none. Exits 1 if any phase had a 5xx, a transport error, a lost write or a duplicate face id;
the verify target (≥ 30 req/s, p99 < 300 ms) is reported, not enforced.

    python benchmarks/service_load.py --clients 8 --duration 30 --json service.json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

try:  # the dev extra installs httpx2 (httpx's successor, same API); plain httpx also works
    import httpx2 as httpx
except ImportError:  # pragma: no cover
    import httpx  # type: ignore[no-redef]

from throughput import cpu_name  # benchmarks/ is on sys.path when run as a script

from faceprint.eval.datasets import read_pairs

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FACEPRINT_SHARED", ROOT / ".." / "shared"))
HOST = "127.0.0.1"  # loopback only, always
VERIFY_TARGET_RPS = 30.0
VERIFY_TARGET_P99_MS = 300.0


def proc_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process (all its threads), from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float | None:
    """CPU seconds all cores spent busy (not idle or waiting for I/O), from /proc/stat."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()
    except (OSError, IndexError):
        return None
    if fields[0] != "cpu":
        return None
    ticks = [int(v) for v in fields[1:9]]  # user nice system idle iowait irq softirq steal
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def self_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def busy_cores(seconds: float = 2.0) -> float | None:
    """Cores busy on average over the next ``seconds`` (everything on the machine)."""
    before = machine_busy_seconds()
    time.sleep(seconds)
    after = machine_busy_seconds()
    return None if before is None or after is None else (after - before) / seconds


def wait_quiet(limit_s: float, max_busy: float) -> float | None:
    """Wait (at most ``limit_s``) until other work keeps < ``max_busy`` cores busy; the
    last reading. The clients and the server share the cores with whatever else runs."""
    deadline = time.perf_counter() + limit_s
    busy = busy_cores()
    while busy is not None and busy >= max_busy and time.perf_counter() < deadline:
        print(f"machine busy ({busy:.2f} cores); waiting for it to quiet down", flush=True)
        time.sleep(min(5.0, max(0.0, deadline - time.perf_counter())))
        busy = busy_cores()
    return busy


def load_average() -> str:
    """The 1/5/15-minute load averages: other work on the machine skews the figures."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0–100) by linear interpolation; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


# --- the server ---------------------------------------------------------------------------


def faceprint_command() -> list[str]:
    script = Path(sys.executable).with_name("faceprint")
    return [str(script)] if script.exists() else [sys.executable, "-m", "faceprint.cli.main"]


def server_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("FACEPRINT_MODEL_MIRROR", str(SHARED / "models"))
    env.setdefault("FACEPRINT_HOME", str(ROOT / ".faceprint-home"))
    env.setdefault("FACEPRINT_OFFLINE", "1")
    for name in ("FACEPRINT_GALLERY", "FACEPRINT_KEYS"):  # the run uses its own files
        env.pop(name, None)
    return env


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class Server:
    """``faceprint serve`` on a free loopback port with a fresh gallery and key."""

    def __init__(
        self,
        workdir: Path,
        *,
        threads: int | None,
        startup_timeout: float,
        embedder: str | None = None,
    ) -> None:
        self.embedder = embedder
        self.workdir = workdir
        self.threads = threads
        self.startup_timeout = startup_timeout
        self.gallery = workdir / "gallery.db"
        self.keys = workdir / "keys.db"
        self.log_path = workdir / "server.log"
        self.port = 0
        self.token = ""
        self.proc: subprocess.Popen[bytes] | None = None
        self.startup_s = 0.0

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> None:
        env = server_env()
        created = subprocess.run(
            [
                *faceprint_command(),
                "keys",
                "create",
                "bench",
                "--scope",
                "*:write",
                "--rate-limit",
                "100000/second",
                "--keys",
                str(self.keys),
                "--json",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if created.returncode != 0:
            raise RuntimeError(f"`faceprint keys create` failed:\n{created.stderr}")
        self.token = json.loads(created.stdout)["token"]
        self.port = free_port()
        command = [
            *faceprint_command(),
            "serve",
            "--host",
            HOST,
            "--port",
            str(self.port),
            "--gallery",
            str(self.gallery),
            "--keys",
            str(self.keys),
        ]
        if self.threads is not None:
            command += ["--threads", str(self.threads)]
        if self.embedder is not None:
            command += ["--embedder", self.embedder]
        start = time.perf_counter()
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = start + self.startup_timeout
        with httpx.Client(base_url=self.url, trust_env=False, timeout=5.0) as client:
            while time.perf_counter() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(
                        f"the server exited with {self.proc.returncode}:\n{self.log_tail()}"
                    )
                with contextlib.suppress(httpx.TransportError):
                    if client.get("/v1/health").status_code == 200:
                        self.startup_s = time.perf_counter() - start
                        return
                time.sleep(0.25)
        raise RuntimeError(f"no /v1/health after {self.startup_timeout:.0f} s:\n{self.log_tail()}")

    def cpu_seconds(self) -> float | None:
        return None if self.proc is None else proc_cpu_seconds(self.proc.pid)

    def stop(self) -> None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        for sig, wait in ((signal.SIGINT, 20), (signal.SIGTERM, 10), (signal.SIGKILL, 10)):
            proc.send_signal(sig)
            try:
                proc.wait(timeout=wait)
                return
            except subprocess.TimeoutExpired:
                continue

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def log_problems(self) -> list[str]:
        """Server log lines that report errors (tracebacks, ERROR records)."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return []
        return [
            line
            for line in text.splitlines()
            if "Traceback" in line or line.startswith(("ERROR", "CRITICAL")) or " ERROR " in line
        ]


class CpuMeter:
    """CPU seconds of the server, of this client process and of everything else."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.marks: tuple[float | None, float, float | None] | None = None

    def start(self) -> None:
        self.marks = (self.server.cpu_seconds(), self_cpu_seconds(), machine_busy_seconds())

    def stop(self) -> dict[str, float | None]:
        assert self.marks is not None
        server0, client0, machine0 = self.marks
        server1, client1, machine1 = (
            self.server.cpu_seconds(),
            self_cpu_seconds(),
            machine_busy_seconds(),
        )
        server = None if server0 is None or server1 is None else server1 - server0
        client = client1 - client0
        machine = None if machine0 is None or machine1 is None else machine1 - machine0
        other = None if machine is None or server is None else max(0.0, machine - server - client)
        return {
            "server_cpu_s": None if server is None else round(server, 1),
            "client_cpu_s": round(client, 1),
            "other_cpu_s": None if other is None else round(other, 1),
        }


# --- the data -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Image:
    name: str
    data: bytes


def lfw_people(images_root: Path) -> dict[str, list[Path]]:
    """Every LFW person (sorted) with their images (sorted)."""
    people: dict[str, list[Path]] = {}
    for entry in sorted(os.scandir(images_root), key=lambda e: e.name):
        if entry.is_dir():
            files = sorted(Path(entry.path).glob("*.jpg"))
            if files:
                people[entry.name] = files
    return people


def load(path: Path) -> Image:
    return Image(path.name, path.read_bytes())


@dataclass(slots=True)
class Workload:
    pairs: list[tuple[Image, Image, bool]]
    gallery: list[tuple[str, Image]]
    probes: list[tuple[str, Image]]
    enroll: list[tuple[str, Image]]


def build_workload(lfw: Path, args: argparse.Namespace) -> Workload:
    pairs = read_pairs(lfw / "pairs.txt", root=lfw / "images")[: args.pairs]
    cache: dict[Path, Image] = {}

    def get(path: Path) -> Image:
        if path not in cache:
            cache[path] = load(path)
        return cache[path]

    verify = [(get(p.path_a), get(p.path_b), p.same) for p in pairs]
    people = lfw_people(lfw / "images")
    # search: people with ≥ 2 images; image 1 enrolled, up to 4 others are probes
    searched = [n for n, files in people.items() if len(files) >= 2][: args.gallery_people]
    gallery = [(n, load(people[n][0])) for n in searched]
    probes = [(n, load(f)) for n in searched for f in people[n][1:5]]
    # enroll + search: other people with ≥ 4 images, 4 items each, same person consecutive
    taken = set(searched)
    per_person = 4
    writers = [n for n, files in people.items() if len(files) >= per_person and n not in taken]
    needed = -(-args.enroll_items // per_person)
    enroll = [(n, load(f)) for n in writers[:needed] for f in people[n][:per_person]]
    return Workload(verify, gallery, probes, enroll[: args.enroll_items])


# --- the load -----------------------------------------------------------------------------


@dataclass(slots=True)
class Sample:
    start: float
    end: float
    status: int | None
    error: str | None = None
    correct: bool | None = None


@dataclass(slots=True)
class Stats:
    name: str
    clients: int
    samples: list[Sample] = field(default_factory=list)
    window_start: float = 0.0
    cpu: dict[str, float | None] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        counted = [s for s in self.samples if s.start >= self.window_start]
        ok = [s for s in counted if s.status is not None and 200 <= s.status < 300]
        latencies = [(s.end - s.start) * 1000 for s in ok]
        elapsed = max((s.end for s in counted), default=self.window_start) - self.window_start
        statuses = Counter(str(s.status) for s in counted if s.status is not None)
        errors = Counter(s.error for s in counted if s.error)
        checked = [s.correct for s in ok if s.correct is not None]

        def ms(value: float | None) -> float | None:
            return None if value is None else round(value, 1)

        return {
            "phase": self.name,
            "clients": self.clients,
            "requests": len(counted),
            "seconds": round(elapsed, 2),
            "req_per_s": round(len(counted) / elapsed, 1) if elapsed > 0 else None,
            "ok_per_s": round(len(ok) / elapsed, 1) if elapsed > 0 else None,
            "p50_ms": ms(percentile(latencies, 50)),
            "p90_ms": ms(percentile(latencies, 90)),
            "p99_ms": ms(percentile(latencies, 99)),
            "max_ms": ms(max(latencies, default=None)),
            "non_2xx": len(counted) - len(ok) - sum(errors.values()),
            "5xx": sum(n for code, n in statuses.items() if code.startswith("5")),
            "exceptions": sum(errors.values()),
            "statuses": dict(statuses),
            "exception_kinds": dict(errors.most_common(5)),
            "correct": round(sum(checked) / len(checked), 4) if checked else None,
            "server_cpu_s": self.cpu.get("server_cpu_s"),
            "client_cpu_s": self.cpu.get("client_cpu_s"),
            "other_cpu_s": self.cpu.get("other_cpu_s"),
        }


Request = Callable[[httpx.AsyncClient, int], Awaitable[tuple[httpx.Response, bool | None]]]


def new_client(server: Server, timeout: float) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=server.url,
        headers={"Authorization": f"Bearer {server.token}"},
        timeout=httpx.Timeout(timeout),
        limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
        trust_env=False,  # never a proxy: loopback only
    )


async def timed(
    stats: Stats, client: httpx.AsyncClient, request: Request, index: int
) -> httpx.Response | None:
    start = time.perf_counter()
    try:
        response, correct = await request(client, index)
    except Exception as exc:  # transport errors, timeouts, bad JSON
        stats.samples.append(Sample(start, time.perf_counter(), None, type(exc).__name__))
        return None
    stats.samples.append(Sample(start, time.perf_counter(), response.status_code, None, correct))
    return response


async def closed_loop(
    server: Server,
    stats: Stats,
    request: Request,
    *,
    warmup: float,
    duration: float,
    max_requests: int,
    timeout: float,
) -> Stats:
    """``stats.clients`` clients, each sending its next request as soon as the last one
    is answered, for ``warmup`` + ``duration`` seconds (at most ``max_requests``)."""
    counter = itertools.count()
    t0 = time.perf_counter()
    stats.window_start = t0 + warmup
    end = stats.window_start + duration
    meter = CpuMeter(server)

    async def client_loop() -> None:
        async with new_client(server, timeout) as client:
            while time.perf_counter() < end:
                index = next(counter)
                if index >= max_requests:
                    return
                await timed(stats, client, request, index)

    async def mark() -> None:
        await asyncio.sleep(max(0.0, stats.window_start - time.perf_counter()))
        meter.start()

    marker = asyncio.create_task(mark())
    await asyncio.wait_for(
        asyncio.gather(*(client_loop() for _ in range(stats.clients))),
        timeout=warmup + duration + timeout + 30,
    )
    await marker
    stats.cpu = meter.stop()
    return stats


def jpeg(image: Image) -> tuple[str, bytes, str]:
    return (image.name, image.data, "image/jpeg")


async def create_collection(client: httpx.AsyncClient, name: str) -> None:
    response = await client.post("/v1/collections", json={"collection_id": name})
    if response.status_code != 201:
        raise RuntimeError(f"creating collection {name!r}: {response.status_code} {response.text}")


async def stored_faces(client: httpx.AsyncClient, collection: str) -> dict[str, int]:
    response = await client.get(f"/v1/collections/{collection}/persons")
    response.raise_for_status()
    return {p["person_id"]: int(p["faces"]) for p in response.json()["persons"]}


PHASES = ("verify", "search", "claims", "enroll_search")


async def run(server: Server, work: Workload, args: argparse.Namespace) -> dict[str, Any]:
    """The chosen phases, in order; each result is printed as it is known."""
    phases = {
        "verify": verify_phase,
        "search": search_phase,
        "claims": claims_phase,
        "enroll_search": enroll_while_searching,
    }
    results: dict[str, Any] = {}
    for name in args.phases:
        results[name] = await phases[name](server, work, args)
        print(f"{name}: {json.dumps(results[name])}", flush=True)
    return results


async def verify_phase(server: Server, work: Workload, args: argparse.Namespace) -> dict[str, Any]:
    """``args.clients`` clients POST /v1/verify with the LFW pairs, cycled."""

    async def verify(client: httpx.AsyncClient, i: int) -> tuple[httpx.Response, bool | None]:
        a, b, same = work.pairs[i % len(work.pairs)]
        response = await client.post("/v1/verify", files={"image_a": jpeg(a), "image_b": jpeg(b)})
        ok = response.status_code == 200
        return response, (response.json()["is_match"] == same) if ok else None

    stats = Stats("verify", args.clients)
    await closed_loop(
        server,
        stats,
        verify,
        warmup=args.warmup,
        duration=args.duration,
        max_requests=args.max_requests,
        timeout=args.timeout,
    )
    return stats.summary()


async def search_phase(server: Server, work: Workload, args: argparse.Namespace) -> dict[str, Any]:
    """Enroll one image per gallery person, then ``args.clients`` clients search."""
    collection = "bench-search"
    async with new_client(server, args.timeout) as client:
        await create_collection(client, collection)
        enroll_start = time.perf_counter()
        accepted = 0
        for person, image in work.gallery:
            response = await client.post(
                f"/v1/collections/{collection}/persons/{person}/faces",
                files=[("images", jpeg(image))],
            )
            if response.status_code == 200:
                accepted += len(response.json()["accepted"])
        enroll_s = time.perf_counter() - enroll_start
        gallery_faces = sum((await stored_faces(client, collection)).values())

    async def search(client: httpx.AsyncClient, i: int) -> tuple[httpx.Response, bool | None]:
        person, image = work.probes[i % len(work.probes)]
        response = await client.post(
            f"/v1/collections/{collection}/search", files={"image": jpeg(image)}
        )
        if response.status_code != 200:
            return response, None
        faces = response.json()["faces"]
        hit = bool(faces) and faces[0]["decision"] == "known" and faces[0]["person_id"] == person
        return response, hit

    stats = Stats("search", args.clients)
    await closed_loop(
        server,
        stats,
        search,
        warmup=args.warmup,
        duration=args.duration,
        max_requests=args.max_requests,
        timeout=args.timeout,
    )
    return stats.summary() | {
        "gallery_people": len(work.gallery),
        "gallery_accepted": accepted,
        "gallery_faces": gallery_faces,
        "gallery_enroll_s": round(enroll_s, 2),
        "probes": len(work.probes),
    }


async def claims_phase(server: Server, work: Workload, args: argparse.Namespace) -> dict[str, Any]:
    """1:1 claims against enrolled people (``POST …/persons/{pid}/verify``): the search
    phase's gallery, ``args.clients`` clients; nine claims in ten are the probe's own
    person, the tenth names another gallery person, a different one each round (an
    impostor claim, which fails)."""
    collection = "bench-search"
    people = [person for person, _ in work.gallery]
    async with new_client(server, args.timeout) as client:
        if (await client.get(f"/v1/collections/{collection}")).status_code == 404:
            await create_collection(client, collection)
            for person, image in work.gallery:
                await client.post(
                    f"/v1/collections/{collection}/persons/{person}/faces",
                    files=[("images", jpeg(image))],
                )

    async def claim(client: httpx.AsyncClient, i: int) -> tuple[httpx.Response, bool | None]:
        person, image = work.probes[i % len(work.probes)]
        genuine = i % 10 != 9
        shift = 1 + (i // len(work.probes)) % (len(people) - 1)
        named = person if genuine else people[(people.index(person) + shift) % len(people)]
        response = await client.post(
            f"/v1/collections/{collection}/persons/{named}/verify", files={"image": jpeg(image)}
        )
        if response.status_code != 200:
            return response, None
        return response, response.json()["is_match"] == genuine

    stats = Stats("claims", args.clients)
    await closed_loop(
        server,
        stats,
        claim,
        warmup=args.warmup,
        duration=args.duration,
        max_requests=args.max_requests,
        timeout=args.timeout,
    )
    return stats.summary()


async def enroll_while_searching(
    server: Server, work: Workload, args: argparse.Namespace
) -> dict[str, Any]:
    """``args.enroll_clients`` enroll the items once each while ``args.search_clients``
    search the same collection; then every accepted face must be stored."""
    collection = "bench-concurrent"
    async with new_client(server, args.timeout) as client:
        await create_collection(client, collection)
    items = iter(enumerate(work.enroll))
    accepted: Counter[str] = Counter()
    face_ids: list[int] = []
    rejected: Counter[str] = Counter()
    enroll_stats = Stats("enroll (concurrent)", args.enroll_clients)
    search_stats = Stats("search (concurrent)", args.search_clients)
    writing = asyncio.Event()
    deadline = time.perf_counter() + args.concurrent_timeout
    probes = [image for _, image in work.enroll] or [image for _, image in work.probes]

    async def enroll_request(
        client: httpx.AsyncClient, i: int
    ) -> tuple[httpx.Response, bool | None]:
        person, image = work.enroll[i]
        response = await client.post(
            f"/v1/collections/{collection}/persons/{person}/faces",
            files=[("images", jpeg(image))],
        )
        if response.status_code == 200:
            body = response.json()
            for face in body["accepted"]:
                accepted[person] += 1
                face_ids.append(int(face["face_id"]))
            for item in body["rejected"]:
                rejected[item["code"]] += 1
        return response, None

    async def enroller() -> None:
        async with new_client(server, args.timeout) as client:
            for index, _ in items:  # the shared iterator: each item is sent once
                if time.perf_counter() > deadline:
                    return
                await timed(enroll_stats, client, enroll_request, index)

    async def search_request(
        client: httpx.AsyncClient, i: int
    ) -> tuple[httpx.Response, bool | None]:
        image = probes[(i * 7) % len(probes)]
        response = await client.post(
            f"/v1/collections/{collection}/search", files={"image": jpeg(image)}
        )
        return response, None

    async def searcher() -> None:
        counter = itertools.count()
        async with new_client(server, args.timeout) as client:
            while not writing.is_set() and time.perf_counter() < deadline:
                index = next(counter)
                if index >= args.max_requests:
                    return
                await timed(search_stats, client, search_request, index)

    async def enrollers() -> None:
        try:
            await asyncio.gather(*(enroller() for _ in range(args.enroll_clients)))
        finally:
            writing.set()

    start = time.perf_counter()
    enroll_stats.window_start = search_stats.window_start = start
    meter = CpuMeter(server)
    meter.start()
    await asyncio.wait_for(
        asyncio.gather(enrollers(), *(searcher() for _ in range(args.search_clients))),
        timeout=args.concurrent_timeout + args.timeout + 30,
    )
    enroll_stats.cpu = search_stats.cpu = cpu = meter.stop()  # one window for both
    async with new_client(server, args.timeout) as client:
        stored = await stored_faces(client, collection)
    total_accepted = sum(accepted.values())
    total_stored = sum(stored.values())
    short = {p: (n, stored.get(p, 0)) for p, n in accepted.items() if stored.get(p, 0) < n}
    return {
        "items": len(work.enroll),
        "persons": len({p for p, _ in work.enroll}),
        "enroll": enroll_stats.summary(),
        "search": search_stats.summary(),
        "accepted": total_accepted,
        "rejected": dict(rejected),
        "stored": total_stored,
        "lost": total_accepted - total_stored,
        "persons_short": {p: {"accepted": a, "stored": s} for p, (a, s) in short.items()},
        "duplicate_face_ids": len(face_ids) - len(set(face_ids)),
        "seconds": round(time.perf_counter() - start, 2),
        **cpu,
    }


# --- the report ---------------------------------------------------------------------------


def fmt(value: object) -> str:
    return "–" if value is None else str(value)


def cores(row: dict[str, Any], key: str) -> str:
    """CPU seconds of a phase as cores busy on average."""
    value, seconds = row.get(key), row.get("seconds")
    return "–" if value is None or not seconds else f"{value / seconds:.2f}"


COLUMNS = {
    "phase": "phase",
    "clients": "clients",
    "requests": "requests",
    "req_per_s": "req/s",
    "p50_ms": "p50 ms",
    "p90_ms": "p90 ms",
    "p99_ms": "p99 ms",
    "max_ms": "max ms",
    "non_2xx": "non-2xx",
    "5xx": "5xx",
    "exceptions": "exceptions",
}
CORES = {
    "server_cpu_s": "server cores",
    "client_cpu_s": "client cores",
    "other_cpu_s": "other cores",
}


def phase_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    rows = [results[name] for name in ("verify", "search", "claims") if name in results]
    if "enroll_search" in results:
        rows += [results["enroll_search"]["enroll"], results["enroll_search"]["search"]]
    return rows


def table(results: dict[str, Any]) -> str:
    rows = phase_rows(results)
    heads = [*COLUMNS.values(), *CORES.values()]
    lines = ["| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
    for row in rows:
        cells = [fmt(row[k]) for k in COLUMNS] + [cores(row, k) for k in CORES]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--clients", type=int, default=8, help="clients of the verify and search phases"
    )
    parser.add_argument("--duration", type=float, default=30.0, help="measured seconds per phase")
    parser.add_argument("--warmup", type=float, default=3.0, help="uncounted seconds before each")
    parser.add_argument("--pairs", type=int, default=300, help="first N LFW pairs for verify")
    parser.add_argument("--gallery-people", type=int, default=50, help="people enrolled for search")
    parser.add_argument(
        "--enroll-items", type=int, default=200, help="enrollment requests, phase 3"
    )
    parser.add_argument("--enroll-clients", type=int, default=4)
    parser.add_argument("--search-clients", type=int, default=4)
    parser.add_argument(
        "--concurrent-timeout", type=float, default=300.0, help="time cap of phase 3 (s)"
    )
    parser.add_argument(
        "--max-requests", type=int, default=100_000, help="cap on requests per phase"
    )
    parser.add_argument("--timeout", type=float, default=60.0, help="per-request timeout (s)")
    parser.add_argument(
        "--threads", type=int, default=None, help="server --threads (default: its own)"
    )
    parser.add_argument(
        "--phases",
        default=",".join(PHASES),
        help=f"comma-separated subset of {','.join(PHASES)} (default: all, in that order)",
    )
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=60.0,
        help="wait up to this many seconds for < 0.3 busy cores before starting (0: don't)",
    )
    parser.add_argument("--startup-timeout", type=float, default=180.0)
    parser.add_argument("--embedder", default=None, help="server --embedder (default: sface)")
    parser.add_argument("--lfw", type=Path, default=SHARED / "datasets" / "lfw")
    parser.add_argument("--json", type=Path, default=None, help="write the full record here")
    parser.add_argument("--server-log", type=Path, default=None, help="keep the server log here")
    args = parser.parse_args()
    for name in ("clients", "enroll_clients", "search_clients", "pairs", "enroll_items"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be ≥ 1")
    if args.duration <= 0 or args.warmup < 0:
        parser.error("--duration must be > 0 and --warmup ≥ 0")
    args.phases = [p.strip().replace("-", "_") for p in args.phases.split(",") if p.strip()]
    if not args.phases or any(p not in PHASES for p in args.phases):
        parser.error(f"--phases takes a subset of {','.join(PHASES)}")

    work = build_workload(args.lfw, args)
    busy = wait_quiet(args.wait_quiet, 0.3) if args.wait_quiet > 0 else busy_cores()
    loadavg = load_average()
    print(
        f"before the run: {fmt(None if busy is None else round(busy, 2))} cores busy, load {loadavg}",
        flush=True,
    )
    print(
        f"{len(work.pairs)} pairs, {len(work.gallery)} gallery people, {len(work.probes)} probes, "
        f"{len(work.enroll)} enrollment items (all in memory)",
        flush=True,
    )
    workdir = Path(tempfile.mkdtemp(prefix="faceprint-load-"))
    server = Server(
        workdir, threads=args.threads, startup_timeout=args.startup_timeout, embedder=args.embedder
    )
    try:
        server.start()
        print(f"server up on {server.url} in {server.startup_s:.1f} s", flush=True)
        results = asyncio.run(run(server, work, args))
    finally:
        server.stop()
        problems = server.log_problems()
        events = (
            [
                json.loads(line)
                for line in (workdir / "audit.jsonl").read_text().splitlines()
                if line.strip()
            ]
            if (workdir / "audit.jsonl").exists()
            else []
        )
        if args.server_log:
            with contextlib.suppress(OSError):
                shutil.copyfile(server.log_path, args.server_log)
        shutil.rmtree(workdir, ignore_errors=True)

    record = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "machine": f"{cpu_name()}, {os.cpu_count()} cores visible",
        "loadavg": loadavg,
        "busy_cores_before": None if busy is None else round(busy, 2),
        "command": " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "server_startup_s": round(server.startup_s, 2),
        "server_log_problems": problems[:20],
        "security_events": dict(Counter(e.get("event") for e in events)),
        "security_event_log": events[:20],
        **results,
        "versions": {
            p: metadata.version(p)
            for p in (
                "faceprint",
                "fastapi",
                "starlette",
                "uvicorn",
                "python-multipart",
                httpx.__name__,  # the client: httpx2, else httpx
            )
        },
    }
    print()
    print(f"{record['date']}, {record['machine']}, load average before {record['loadavg']}")
    print(f"command: {record['command']}")
    print()
    print(table(results))
    print()
    verify = results.get("verify")
    if verify is not None:
        met = (
            (verify["ok_per_s"] or 0) >= VERIFY_TARGET_RPS
            and verify["p99_ms"] is not None
            and verify["p99_ms"] < VERIFY_TARGET_P99_MS
        )
        record["verify_target_met"] = met
        print(
            f"verify: {verify['correct']} of answered pairs decided correctly; target "
            f"≥ {VERIFY_TARGET_RPS:g} req/s with p99 < {VERIFY_TARGET_P99_MS:g} ms: "
            f"{'met' if met else 'NOT met'}"
        )
    if "search" in results:
        print(f"search: rank-1 known-and-right rate {results['search']['correct']}")
    concurrent = results.get("enroll_search")
    if concurrent is not None:
        print(
            f"enroll + search: {concurrent['items']} enrollment requests over "
            f"{concurrent['persons']} persons, accepted {concurrent['accepted']}, "
            f"stored {concurrent['stored']}, lost {concurrent['lost']}, "
            f"rejected {concurrent['rejected'] or 0}, duplicate face ids "
            f"{concurrent['duplicate_face_ids']}"
        )
    if "claims" in results:
        print(f"claims: decided correctly {results['claims']['correct']}")
    print(
        "security events (budgets, throttling, hill-climbing alerts): "
        + (", ".join(f"{k} {v}" for k, v in record["security_events"].items()) or "none")
    )
    if problems:
        print(f"server log: {len(problems)} error line(s), first: {problems[0]}")
    if args.json:
        args.json.write_text(json.dumps(record, indent=2) + "\n")

    failed = any(row["5xx"] or row["exceptions"] for row in phase_rows(results)) or (
        concurrent is not None
        and (concurrent["lost"] != 0 or concurrent["duplicate_face_ids"] != 0)
    )
    if failed:
        print("FAILED: server errors, transport errors or lost writes", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
