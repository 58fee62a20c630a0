"""A real single-node SLURM cluster for tests: munged, slurmctld and slurmd started by hand
(no systemd), every state, spool, pid, socket and log path under a fresh temporary directory,
its own ports, and SLURM_CONF exported for every client command.

    with Cluster(workdir) as c:          # workdir records the temporary directory
        c.run(["sbatch", ...])

Stopping (also on failure, and on the next start after a run that was killed): every job is
cancelled, then every process whose environment names this cluster's slurm.conf (daemons,
job scripts, srun, ranks) is killed by pid, the daemons by their pid files, and the
temporary directory removed. What is known to work on Debian 12 (slurm-wlm 22.05) is in
issue 7; the settings below follow it.
"""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

STATE_NOTE = "cluster-dir"  # in workdir: the temporary directory of the running cluster


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _pids_with_env(needle):
    """Pids of processes whose environment contains the byte string needle."""
    found = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == os.getpid():
            continue
        try:
            with open(f"/proc/{d}/environ", "rb") as f:
                if needle in f.read():
                    found.append(int(d))
        except OSError:
            pass
    return found


def _kill_pid(pid, sig):
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _read_pid(path):
    try:
        with open(path) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _teardown(tmp, log=print):
    """Stop everything that belongs to the cluster in tmp and remove tmp."""
    conf = os.path.join(tmp, "slurm.conf")
    env = dict(os.environ, SLURM_CONF=conf)
    if os.path.exists(conf) and shutil.which("scancel"):
        subprocess.run(["scancel", "--full", "--signal=KILL", "--partition=test"], env=env,
                       capture_output=True, timeout=20)
        time.sleep(0.5)
    needle = b"SLURM_CONF=" + conf.encode() + b"\0"
    daemons = [_read_pid(os.path.join(tmp, n)) for n in ("slurmd.pid", "slurmctld.pid", "munge/munged.pid")]
    pids = set(_pids_with_env(needle)) | {p for p in daemons if p}
    for p in pids:
        _kill_pid(p, signal.SIGTERM)
    t0 = time.time()
    while time.time() - t0 < 10 and any(os.path.exists(f"/proc/{p}") for p in pids):
        time.sleep(0.1)
    for p in pids:
        if os.path.exists(f"/proc/{p}"):
            _kill_pid(p, signal.SIGKILL)
    if pids:
        log(f"cluster: stopped {len(pids)} processes of {tmp}")
    shutil.rmtree(tmp, ignore_errors=True)


class Cluster:
    def __init__(self, workdir, cpus=None, log=print):
        self.workdir = workdir
        self.log = log
        self.tmp = None
        self.cpus = cpus

    # ---- life cycle ----
    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def start(self):
        os.makedirs(self.workdir, exist_ok=True)
        note = os.path.join(self.workdir, STATE_NOTE)
        if os.path.exists(note):  # a previous run of this test was killed before it cleaned up
            with open(note) as f:
                _teardown(f.read().strip(), self.log)
        for tool in ("munged", "mungekey", "slurmctld", "slurmd", "sbatch", "scontrol"):
            if not shutil.which(tool) and not os.path.exists(f"/usr/sbin/{tool}"):
                raise RuntimeError(f"{tool} not found: install Debian's slurm-wlm and munge (.ci/install-deps.sh)")
        self.tmp = tempfile.mkdtemp(prefix="jc-slurm-")
        with open(note, "w") as f:
            f.write(self.tmp)
        t = self.tmp
        os.chmod(t, 0o755)
        for d, mode in (("munge", 0o755), ("munge-key", 0o700), ("state", 0o755), ("spool", 0o755)):
            os.makedirs(os.path.join(t, d))
            os.chmod(os.path.join(t, d), mode)
        self.conf = os.path.join(t, "slurm.conf")
        self.env = dict(os.environ, SLURM_CONF=self.conf)
        sock = os.path.join(t, "munge", "munge.socket.2")
        key = os.path.join(t, "munge-key", "munge.key")
        self._check(["mungekey", "-c", "-k", key])
        self._check(["munged", "--socket", sock, "--key-file", key, "--log-file", os.path.join(t, "munged.log"),
                     "--pid-file", os.path.join(t, "munge", "munged.pid"),
                     "--seed-file", os.path.join(t, "munge", "munged.seed"), "--force"])
        node = self._node_line()
        ctl_port, d_port = _free_ports(2)
        host = socket.gethostname()
        with open(self.conf, "w") as f:
            f.write(f"""ClusterName=jctest
SlurmctldHost={host}
SlurmctldPort={ctl_port}
SlurmdPort={d_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={sock},cred_expire=10
StateSaveLocation={t}/state
SlurmdSpoolDir={t}/spool
SlurmctldPidFile={t}/slurmctld.pid
SlurmdPidFile={t}/slurmd.pid
SlurmctldLogFile={t}/slurmctld.log
SlurmdLogFile={t}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=pmix
SchedulerParameters=sched_interval=2,bf_interval=1
ReturnToService=2
JobRequeue=1
KillWait=5
MinJobAge=600
{node}
PartitionName=test Nodes={host} Default=YES MaxTime=INFINITE State=UP
""")
        self._check(["slurmctld", "-c", "-f", self.conf])
        self._check(["slurmd", "-f", self.conf])
        t0 = time.time()
        while time.time() - t0 < 30:
            r = self.run(["sinfo", "-h", "-o", "%T"])
            if r.returncode == 0 and r.stdout.strip() in ("idle", "mixed", "allocated"):
                self.log(f"cluster: up in {time.time() - t0:.1f} s ({host}, ports {ctl_port}/{d_port}, {t})")
                return
            time.sleep(0.3)
        raise RuntimeError("the SLURM node did not become idle in 30 s:\n" + self.logs())

    def stop(self):
        if self.tmp:
            _teardown(self.tmp, self.log)
            self.tmp = None
        note = os.path.join(self.workdir, STATE_NOTE)
        if os.path.exists(note):
            os.unlink(note)

    # ---- helpers ----
    def _node_line(self):
        """slurmd -C's node line, RealMemory a little below what it reports."""
        out = subprocess.run(["slurmd", "-C"], capture_output=True, text=True, check=True).stdout
        line = next(l for l in out.splitlines() if l.startswith("NodeName="))
        fields = dict(kv.split("=", 1) for kv in line.split())
        fields["RealMemory"] = str(max(int(fields.get("RealMemory", "1000")) - 512, 100))
        if self.cpus:
            fields["CPUs"] = str(self.cpus)
        return " ".join(f"{k}={v}" for k, v in fields.items()) + " State=UNKNOWN"

    def _check(self, cmd):
        r = subprocess.run(cmd, env=self.env if hasattr(self, "env") else None, capture_output=True, text=True,
                           timeout=30)
        if r.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}\n" +
                               (self.logs() if hasattr(self, "conf") else ""))

    def run(self, cmd, timeout=60, **kw):
        return subprocess.run(cmd, env=kw.pop("env", self.env), capture_output=True, text=True, timeout=timeout, **kw)

    def job(self, job_id):
        """scontrol show job as a dict (JobState, Restarts, ExitCode, ...)."""
        r = self.run(["scontrol", "show", "job", "-o", str(job_id)])
        out = {}
        for kv in r.stdout.split():
            if "=" in kv:
                k, v = kv.split("=", 1)
                out[k] = v
        return out

    def logs(self, tail=3000):
        text = ""
        for name in ("slurmctld.log", "slurmd.log", "munged.log"):
            p = os.path.join(self.tmp or "", name)
            if self.tmp and os.path.exists(p):
                with open(p, errors="replace") as f:
                    text += f"---- {name} ----\n{f.read()[-tail:]}\n"
        return text
