"""The sbatch call the SLURM executor plugin makes for every job of the DAG, without a cluster.

    python tests/slurm/sbatch_lines.py WORKDIR [SNAKEMAKE ARGS...]     # prints a table, writes WORKDIR/sbatch.json

Runs Snakemake in WORKDIR (a scratch copy of the workflow: outputs are created there as empty files) with the
slurm executor and the given arguments (typically ``--profile profiles/slurm --configfile ...``). The plugin's own
code builds every call (partition choice, --mem, --cpus-*, --gpus, -t, group resources); only the edges to SLURM
are replaced: ``sbatch`` returns a job id instead of submitting, every submitted job "completes" at once with its
outputs touched, and local rules touch their outputs instead of running. So the whole DAG is walked in seconds
and each call is exactly what the plugin would send (tests/test_slurm.py checks the same calls on a real SLURM).

Each record: the job's name (rule, or group name + rules), its wildcards, the sbatch call, the fields parsed
from it, and the resources, input and output of each member job (for group jobs: to compare the group's request
with them). `records_from_log` builds the same records from a real run's `snakemake --verbose` output, and
`check_requests` asserts what every request must satisfy (tests/test_slurm.py uses both).
"""
from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import subprocess
import sys
import threading
import types
from pathlib import Path

FIELDS = {  # sbatch option -> record key
    "--comment": "comment", "-p": "partition", "--mem": "mem_mb", "--cpus-per-task": "cpus_per_task",
    "--cpus-per-gpu": "cpus_per_gpu", "--gpus": "gpus", "--gres": "gres", "-t": "runtime", "-A": "account",
    "-C": "constraint",
}


def parse_call(call: str) -> dict:
    """The resource options of an sbatch call, e.g. {"partition": "cpu", "mem_mb": 2000, "gpus": None, ...}."""
    words = shlex.split(call.split(" --wrap=")[0])
    found = {key: None for key in FIELDS.values()}
    for i, word in enumerate(words):
        name, eq, value = word.partition("=")
        if name in FIELDS:
            if not eq:
                value = words[i + 1] if i + 1 < len(words) else ""
            found[FIELDS[name]] = int(value) if value.isdigit() else value
    return found


def _touch(job) -> None:
    """What the job would have written: its outputs, log and benchmark files."""
    paths = [*job.output, *job.log, *([job.benchmark] if job.benchmark else [])]
    for path in map(str, paths):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).touch()


def _members(job) -> list:
    return list(job.jobs) if job.is_group() else [job]


def _plain(resources) -> dict:
    return {k: v for k, v in dict(resources).items() if isinstance(v, (int, float, str)) and not k.startswith("_")}


def install(records: list) -> None:
    """Patch the plugin's and Snakemake's edges to SLURM and to the jobs' commands (see the module docstring)."""
    import snakemake.executors.local as local
    import snakemake_executor_plugin_slurm as plugin
    from snakemake_interface_executor_plugins.executors.base import SubmittedJobInfo

    calls = threading.local()
    real_popen = subprocess.Popen

    class FakeSbatch:
        next_id = 1000

        def __init__(self, call, **kwargs):
            calls.last = call
            FakeSbatch.next_id += 1
            self.returncode = 0
            self._out = f"{FakeSbatch.next_id}\n"

        def communicate(self, input=None):
            return self._out, ""

    def popen(cmd, *args, **kwargs):
        if isinstance(cmd, str) and cmd.startswith("sbatch "):
            return FakeSbatch(cmd, **kwargs)
        return real_popen(cmd, *args, **kwargs)

    # only the plugin's module sees the fake: its `subprocess` name is replaced, not the subprocess module
    plugin.subprocess = types.SimpleNamespace(**{**vars(subprocess), "Popen": popen})
    plugin.get_max_array_size = lambda *a, **k: 1000                     # scontrol show config
    plugin.validate_status_command_settings = lambda *a, **k: None       # sacct / scontrol
    plugin.get_account = lambda *a, **k: None                            # sacct: no account guessed
    plugin.validate_account = lambda account, *a, **k: account           # sacctmgr

    def default_partition(job, logger):  # `sinfo`: what a job gets when nothing chose its partition
        return "<sinfo-default>"

    plugin.get_default_partition = default_partition

    real_run_job = plugin.Executor.run_job

    def run_job(self, job):
        members = _members(job)
        for j in members:  # before submitting: the status thread may report the job done at once
            _touch(j)
        calls.last = None
        real_run_job(self, job)
        call = calls.last
        if call is None:
            return  # submission failed: the plugin reported the error
        records.append({
            "name": job.name,
            "group": job.is_group(),
            "rules": sorted({j.rule.name for j in members}),
            "wildcards": sorted({", ".join(f"{k}={v}" for k, v in j.wildcards_dict.items()) for j in members}),
            "call": call.split(" --wrap=")[0],
            "asked": parse_call(call),
            "resources": _plain(job.resources),
            "members": [{"rule": j.rule.name, "threads": j.threads, **_plain(j.resources),
                         "input": list(map(str, j.input)), "output": list(map(str, j.output))} for j in members],
        })

    async def check_active_jobs(self, active_jobs):
        for job_info in active_jobs:
            self.report_job_success(job_info)
        if False:
            yield

    async def sleep(self):
        await asyncio.sleep(0.01)

    plugin.Executor.run_job = run_job
    plugin.Executor.check_active_jobs = check_active_jobs
    plugin.Executor.sleep = sleep

    def run_local(self, job):
        for j in _members(job):
            _touch(j)
        info = SubmittedJobInfo(job=job)
        self.report_job_submission(info)
        self.report_job_success(info)

    local.Executor.run_job = run_local


def capture(workdir: Path, *args: str) -> list[dict]:
    """Run Snakemake (slurm executor, `args`) in workdir with the edges patched; the records of every sbatch."""
    records: list[dict] = []
    install(records)
    from snakemake.cli import main

    cwd = os.getcwd()
    os.chdir(workdir)
    try:
        main(["--executor", "slurm", "--slurm-init-seconds-before-status-checks", "1",
              "--latency-wait", "0", *args])
    except SystemExit as done:
        if done.code:
            raise RuntimeError(f"snakemake {' '.join(args)} exited {done.code}") from None
    finally:
        os.chdir(cwd)
    return records


# --- the same records from a real run's output (snakemake --verbose: job blocks and "sbatch call:" lines) ---------

_RULE = re.compile(r"^(?P<indent>\s*)(?P<local>local)?rule (?P<rule>\w+):$")
_GROUP = re.compile(r"Group job (?P<group>\S+) \(jobs in lexicogr\. order\):$")
_FIELD = re.compile(r"^\s+(?P<key>input|output|wildcards|threads|resources): (?P<value>.*)$")


def _resources(text: str) -> dict:
    found = {}
    for item in text.split(", "):
        key, _, value = item.partition("=")
        found[key] = int(value) if value.isdigit() else value
    return found


def _comment(block: dict) -> str:
    """The plugin's --comment for a job: rule_<rule>_wildcards_<values> or rule_<group id>_<its rules>."""
    if block["group"]:
        return f"rule_{block['name']}_{'_'.join(sorted({m['rule'] for m in block['members']}))}"
    values = [w.partition("=")[2] for w in block["wildcards"][0].split(", ")] if block["wildcards"][0] else []
    return f"rule_{block['name']}" + (f"_wildcards_{'_'.join(values).replace('/', '_')}" if values else "")


def records_from_log(output: str) -> tuple[list[dict], set[str]]:
    """The submitted jobs of a Snakemake run's output, as `capture` records, and the rules that ran locally."""
    blocks, local, group, job = [], set(), None, None
    for line in output.splitlines():
        if m := _GROUP.search(line):
            group = {"name": m["group"], "group": True, "members": []}
            blocks.append(group)
        elif m := _RULE.match(line):
            job = {"rule": m["rule"], "threads": 1, "input": [], "output": [], "wildcards": ""}
            if m["indent"] and group is not None:
                group["members"].append(job)
            else:
                group = None
                if m["local"]:
                    local.add(m["rule"])
                else:
                    blocks.append({"name": m["rule"], "group": False, "members": [job]})
        elif (m := _FIELD.match(line)) and job is not None:
            key, value = m["key"], m["value"]
            if key in ("input", "output"):
                job[key] = value.split(", ")
            elif key == "threads":
                job["threads"] = int(value)
            elif key == "wildcards":
                job["wildcards"] = value
            else:
                job.update(_resources(value))
    for block in blocks:
        block["rules"] = sorted({m["rule"] for m in block["members"]})
        block["wildcards"] = sorted({m["wildcards"] for m in block["members"]})
    calls = {}
    for line in output.splitlines():
        if line.startswith("sbatch call: "):
            call = line[len("sbatch call: "):].split(" --wrap=")[0]
            calls[parse_call(call)["comment"]] = call
    records = []
    for block in {_comment(b): b for b in blocks}.values():  # a job printed twice (a retry) counts once
        call = calls.get(_comment(block))
        if call is not None:
            records.append({**block, "call": call, "asked": parse_call(call)})
    return records, local


# --- what every request must satisfy ------------------------------------------------------------------------------

def _widest_level(members: list[dict], key: str) -> int:
    """The most of `key` that a group's members need at once: its sum over the jobs of one dependency level
    (jobs that only wait for jobs outside the group are level 0), the widest level. Snakemake asks at most this
    for a group (fewer when a local-scope limit such as gpu=1, or --cores, makes it run a level in turns)."""
    produced = {f: i for i, m in enumerate(members) for f in m["output"]}
    level: dict[int, int] = {}

    def of(i: int) -> int:
        if i not in level:
            deps = {produced[f] for f in members[i]["input"] if f in produced and produced[f] != i}
            level[i] = 1 + max((of(d) for d in deps), default=-1)
        return level[i]

    sums: dict[int, int] = {}
    for i, m in enumerate(members):
        sums[of(i)] = sums.get(of(i), 0) + int(m.get(key, 0))
    return max(sums.values())


def request_problems(record: dict, default_mem_mb: int, partitions=("cpu", "gpu")) -> list[str]:
    """What is wrong with one submitted job's request (empty: nothing): a CPU-only job on the GPU partition (or
    the reverse), a GPU of any type for a job without GPU members, a member sized by the profile's default memory,
    a single job asking other than its rule declares, or a group asking more than its members need at once."""
    cpu_part, gpu_part = partitions
    asked, members, problems = record["asked"], record["members"], []
    gpus = asked["gpus"] or asked["gres"]
    count = int(str(gpus).rpartition(":")[2] or 0) if gpus else 0
    need_gpu = max(int(m.get("gpu", 0)) for m in members)
    if count != min(need_gpu, 1) or (gpus and ":0" in str(gpus)):
        problems.append(f"asks GPUs {gpus!r}, its members need {need_gpu} (at most 1 at a time in a group)")
    if asked["partition"] != (gpu_part if need_gpu else cpu_part):
        problems.append(f"partition {asked['partition']!r} for a job that needs {need_gpu} GPU(s)")
    if asked["cpus_per_gpu"] is not None or asked["cpus_per_task"] is None:
        problems.append(f"CPUs not asked as --cpus-per-task: {asked}")
    unsized = sorted({m["rule"] for m in members if m.get("mem_mb", default_mem_mb) == default_mem_mb})
    if unsized:
        problems.append(f"rule(s) {', '.join(unsized)} declare no mem_mb: sized by the profile default "
                        f"{default_mem_mb}")
    for key, ask in (("mem_mb", asked["mem_mb"]), ("threads", asked["cpus_per_task"])):
        largest = max(int(m.get(key, 0)) for m in members)
        widest = _widest_level(members, key)
        if ask is None or not largest <= ask <= widest:
            problems.append(f"asks {key} {ask}: its members need {largest} each, {widest} at once at most")
    if not record["group"] and asked["runtime"] != members[0].get("runtime"):
        problems.append(f"asks -t {asked['runtime']}, its rule declares runtime {members[0].get('runtime')}")
    if record["group"] and asked["runtime"] > sum(int(m.get("runtime", 0)) for m in members):
        problems.append(f"asks -t {asked['runtime']}, more than its members' run times added up")
    return problems


def check_requests(records: list[dict], default_mem_mb: int, partitions=("cpu", "gpu")) -> None:
    """Assert `request_problems` is empty for every record, naming the jobs and calls that break it."""
    bad = {f"{r['name']} {r['wildcards'][:1]}": (request_problems(r, default_mem_mb, partitions), r["call"])
           for r in records}
    bad = {k: v for k, v in bad.items() if v[0]}
    assert not bad, "\n".join(f"{k}: {'; '.join(p)}\n    {c}" for k, (p, c) in list(bad.items())[:20])


def table(records: list[dict]) -> str:
    """One line per distinct (job name, request): how many jobs asked it."""
    counts: dict[tuple, int] = {}
    for r in records:
        a = r["asked"]
        cpus = f"{a['cpus_per_task']}/task" if a["cpus_per_task"] else f"{a['cpus_per_gpu']}/gpu"
        datasets = sorted({w.split("dataset=")[1].split(",")[0] for w in r["wildcards"] if "dataset=" in w})
        kind = ("group " if r["group"] else "") + "+".join(r["rules"]) + (f" [{','.join(datasets)}]" if datasets else "")
        key = (kind, a["partition"], a["mem_mb"], cpus, a["gpus"] or a["gres"] or "-", a["runtime"])
        counts[key] = counts.get(key, 0) + 1
    lines = [f"{'job':<52} {'n':>3}  {'partition':<14} {'mem_mb':>7} {'cpus':>7} {'gpus':>6} {'min':>6}"]
    for key, n in sorted(counts.items(), key=lambda kv: kv[0][0]):
        kind, part, mem, cpus, gpus, rt = key
        lines.append(f"{kind:<52} {n:>3}  {part!s:<14} {mem!s:>7} {cpus:>7} {gpus!s:>6} {rt!s:>6}")
    return "\n".join(lines)


if __name__ == "__main__":
    workdir = Path(sys.argv[1])
    found = capture(workdir, *sys.argv[2:])
    (workdir / "sbatch.json").write_text(json.dumps(found, indent=1))
    print(table(found))
