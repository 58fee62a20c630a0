#!/usr/bin/python3
"""A three-node SLURM cluster on one machine, each node its own network host.

    vcluster.py start [--state DIR] [--manual]   start it, print how to use it
    vcluster.py stop  [--state DIR]              stop it and remove everything it created
    vcluster.py status [--state DIR]             sinfo of the running cluster
    vcluster.py env   [--state DIR]              `export SLURM_CONF=... JETCNN_NET=...` (eval it)

What it creates (all of it removed by `stop`, also after a failure; a cluster whose owner
process has died is removed by the next `start`):
  - a bridge jcc<K>br with the address 10.213.<K>.1/24 in the root network namespace, where K is
    the first free slot (0-3: several clusters may run side by side);
  - three network namespaces jcc<K>n1..3, each joined to the bridge by a veth pair (host end
    jcc<K>n<i>, node end eth0 with 10.213.<K>.1<i>/24);
  - under a temporary directory: a private munged (its own key and socket), slurm.conf, a
    slurmctld (hostname jcctl, in the root network namespace, on the bridge address) and three
    `slurmd -N n<i>`, each started with `nsenter --net` in its node's namespace and with its
    own hostname n<i> (a UTS namespace), so ranks on different nodes reach each other only over
    TCP through the veth links, and MPI sees three hosts.
Nothing else on the machine is touched. Needs root, iproute2 (ip, tc), util-linux (nsenter,
unshare), slurm-wlm and munge (.ci/install-deps.sh installs them).

Used by tests/cluster/*.py through the Cluster class (Cluster.attach(state) for a running one).
"""
import argparse
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

REGISTRY = "/run/jetcnn-cluster"       # slot-K.json: who owns slot K (a tmpfs: gone at reboot)
SLOTS = 4
NODES = 3
SLURMD_TIMEOUT = 10                    # s without a slurmd answer before slurmctld sets the node DOWN
SUBNET_FMT = "10.213.{k}"              # the slot's /24


def _sh(cmd, check=True, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr.strip()}")
    return r


def _alive(pid, start=None):
    """True when pid runs and (if given) started at clock tick `start` (guards against pid reuse)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return False
    return start is None or int(fields[19]) == start


def _start_time(pid):
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[19])


def _netns_inode(name):
    try:
        return os.stat(f"/run/netns/{name}").st_ino
    except OSError:
        return None


def pids_in_netns(names):
    """Pids of the processes that live in any of the named network namespaces."""
    inodes = {i for i in (_netns_inode(n) for n in names) if i}
    found = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                if os.stat(f"/proc/{d}/ns/net").st_ino in inodes:
                    found.append(int(d))
            except OSError:
                pass
    return found


def _pids_where(what, needle):
    """Pids of the processes whose /proc/PID/<what> (environ, cmdline) contains the bytes needle."""
    found = []
    for d in os.listdir("/proc"):
        if d.isdigit() and int(d) != os.getpid():
            try:
                with open(f"/proc/{d}/{what}", "rb") as f:
                    if needle in f.read():
                        found.append(int(d))
            except OSError:
                pass
    return found


def _read_pid(path):
    try:
        with open(path) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _ancestors():
    """This process and its ancestors (never killed by a teardown, e.g. a shell holding SLURM_CONF)."""
    out, pid = set(), os.getpid()
    while pid > 1:
        out.add(pid)
        try:
            with open(f"/proc/{pid}/stat") as f:
                pid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    return out


def _kill_all(pids, grace=5.0):
    """TERM, wait up to grace seconds, then KILL whatever is left. Only the given pids."""
    pids = list(set(pids) - _ancestors())
    for p in pids:
        try:
            os.kill(p, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            pass
    t0 = time.time()
    while time.time() - t0 < grace and any(_alive(p) for p in pids):
        time.sleep(0.1)
    for p in pids:
        if _alive(p):
            try:
                os.kill(p, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
    return len(pids)


def names(k):
    return {"bridge": f"jcc{k}br", "netns": [f"jcc{k}n{i}" for i in range(1, NODES + 1)],
            "veth": [f"jcc{k}n{i}" for i in range(1, NODES + 1)], "subnet": SUBNET_FMT.format(k=k)}


def teardown_slot(k, tmp=None, log=print, network=True):
    """Remove everything slot k may have created: jobs, processes, namespaces, bridge, files.
    tmp None: the slot's record is lost; its daemons are found by their temporary directory's
    name (tempfile's /tmp/jcc<k>-*). network False: only tmp's own processes and files."""
    n = names(k)
    if tmp is None:
        stale = glob.glob(os.path.join(tempfile.gettempdir(), f"jcc{k}-*"))
        _kill_all([p for d in stale for p in _pids_where("cmdline", (d + "/").encode())])
        for d in stale:
            shutil.rmtree(d, ignore_errors=True)
    conf = os.path.join(tmp, "slurm.conf") if tmp else None
    if conf and os.path.exists(conf) and shutil.which("scancel"):
        subprocess.run(["scancel", "--full", "--signal=KILL", "--partition=test"],
                       env=dict(os.environ, SLURM_CONF=conf), capture_output=True, timeout=20)
    pids = pids_in_netns(n["netns"]) if network else []
    if conf:
        pids += _pids_where("environ", b"SLURM_CONF=" + conf.encode() + b"\0")
        pids += [p for p in (_read_pid(os.path.join(tmp, f)) for f in ("slurmctld.pid", "munge/munged.pid")) if p]
    killed = _kill_all(pids)
    if not network:
        shutil.rmtree(tmp, ignore_errors=True)
        if killed:
            log(f"vcluster: stopped {killed} processes of {tmp}")
        return
    for d in _cgroup_dirs(k):
        try:
            os.rmdir(d)
        except OSError:
            pass
    for ns in n["netns"]:
        if os.path.exists(f"/run/netns/{ns}"):
            _sh(["ip", "netns", "del", ns], check=False)
    for dev in n["veth"] + [n["bridge"]]:
        if os.path.exists(f"/sys/class/net/{dev}"):
            _sh(["ip", "link", "del", dev], check=False)
    if tmp:
        shutil.rmtree(tmp, ignore_errors=True)
    try:
        os.unlink(os.path.join(REGISTRY, f"slot-{k}.json"))
    except FileNotFoundError:
        pass
    if killed:
        log(f"vcluster: slot {k}: stopped {killed} processes")


def _claim_slot(owner_pid, log):
    """The first slot nobody alive owns; stale slots (owner dead) are torn down first."""
    os.makedirs(REGISTRY, exist_ok=True)
    for k in range(SLOTS):
        path = os.path.join(REGISTRY, f"slot-{k}.json")
        if os.path.exists(path):
            try:
                with open(path) as f:
                    st = json.load(f)
            except (OSError, ValueError):
                st = {}
            owner = st.get("owner_pid")
            if owner and (owner == "manual" or _alive(owner, st.get("owner_start"))):
                continue
            log(f"vcluster: slot {k} was left by a run that died (owner {owner}); removing it")
            teardown_slot(k, st.get("tmp"), log)
        else:
            n = names(k)
            leftovers = [d for d in n["veth"] + [n["bridge"]] if os.path.exists(f"/sys/class/net/{d}")] + \
                        [ns for ns in n["netns"] if os.path.exists(f"/run/netns/{ns}")]
            if leftovers:  # no owner on record, but the devices are this slot's by name
                log(f"vcluster: slot {k}: removing leftovers of an earlier run: {' '.join(leftovers)}")
                teardown_slot(k, None, log)
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:   # another start took it meanwhile
            continue
        os.write(fd, json.dumps({"owner_pid": owner_pid,
                                 "owner_start": _start_time(owner_pid) if owner_pid != "manual" else None}).encode())
        os.close(fd)
        return k
    raise RuntimeError(f"all {SLOTS} cluster slots are in use ({REGISTRY}); stop one with "
                       "tests/cluster/vcluster.py stop --state DIR")


def _free_port():
    s = socket.socket()
    s.bind(("", 0))
    p = s.getsockname()[1]
    s.close()
    return p


# ---- slowing one node down (issue 12, "Seeing a slow node") ----
def _cgroup_dirs(k):
    """Where slot k's CPU-limit cgroups live: cgroup v2 (cpu.max) or v1 (cpu.cfs_quota_us)."""
    return glob.glob(f"/sys/fs/cgroup/jcc{k}-*") + glob.glob(f"/sys/fs/cgroup/cpu/jcc{k}-*")


def _cgroup_for(name, share):
    """A cgroup limited to `share` of one CPU, or None when neither cgroup v2's cpu controller (at
    the root, already enabled) nor v1's cpu hierarchy is available. Nothing else is changed."""
    period = 10000   # a short period throttles the compute itself, not only the MPI busy-wait after it
    quota = max(1000, int(share * period))
    v2 = "/sys/fs/cgroup/cgroup.controllers"
    try:
        if os.path.exists(v2):
            with open("/sys/fs/cgroup/cgroup.subtree_control") as f:
                if "cpu" not in f.read().split():
                    return None
            d = f"/sys/fs/cgroup/{name}"
            os.makedirs(d, exist_ok=True)
            with open(f"{d}/cpu.max", "w") as f:
                f.write(f"{quota} {period}")
            return d
        if os.path.isdir("/sys/fs/cgroup/cpu"):
            d = f"/sys/fs/cgroup/cpu/{name}"
            os.makedirs(d, exist_ok=True)
            with open(f"{d}/cpu.cfs_period_us", "w") as f:
                f.write(str(period))
            with open(f"{d}/cpu.cfs_quota_us", "w") as f:
                f.write(str(quota))
            return d
    except OSError:
        return None
    return None


class Slowdown:
    """Slow the jetcnn ranks of node i to `share` of one CPU while the context lasts: a cgroup CPU
    quota when the machine has one, else SIGSTOP/SIGCONT in 20 ms cycles. A thread adds ranks as
    they appear. `how` says which mechanism, `pids` which ranks were slowed."""

    def __init__(self, cluster, i, share):
        self.c, self.i, self.share = cluster, i, share
        self.cg = _cgroup_for(f"jcc{cluster.slot}-{cluster.nodes[i]}-slow", share)
        self.how = f"cgroup {self.cg} ({share:.0%} of a CPU)" if self.cg else \
            f"SIGSTOP/SIGCONT duty cycle ({share:.0%} running)"
        self.pids = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _ranks(self):
        out = []
        for p in pids_in_netns([self.c.netns[self.i]]):
            try:
                with open(f"/proc/{p}/comm") as f:
                    if f.read().strip() == "jetcnn":
                        out.append(p)
            except OSError:
                pass
        return out

    def _run(self):
        on = True
        while not self._stop.is_set():
            for p in self._ranks():
                if p not in self.pids:
                    self.pids.add(p)
                    if self.cg:
                        try:
                            with open(f"{self.cg}/cgroup.procs", "w") as f:
                                f.write(str(p))
                        except OSError:
                            pass
            if self.cg:
                self._stop.wait(0.05)
                continue
            sig = signal.SIGCONT if on else signal.SIGSTOP
            for p in self.pids:
                try:
                    os.kill(p, sig)
                except ProcessLookupError:
                    pass
            self._stop.wait(0.02 * (self.share if on else 1 - self.share))
            on = not on

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        for p in self.pids:
            try:
                os.kill(p, signal.SIGCONT)
            except ProcessLookupError:
                pass
        if self.cg:
            parent = os.path.dirname(self.cg)
            try:
                with open(f"{self.cg}/cgroup.procs") as f:
                    left = f.read().split()
                for p in left:  # back to where they came from (the root of the hierarchy)
                    with open(f"{parent}/cgroup.procs", "w") as f:
                        f.write(p)
                os.rmdir(self.cg)
            except OSError:
                pass
        return False


class SlowLink:
    """Limit node i's link to `rate` (e.g. "20mbit") in both directions with tc tbf while the
    context lasts: on the bridge side of its veth (traffic to the node) and on eth0 inside the
    node's namespace (traffic from it)."""

    def __init__(self, cluster, i, rate):
        self.c, self.i, self.rate = cluster, i, rate
        self.tbf = ["tbf", "rate", rate, "burst", "32kbit", "latency", "400ms"]

    def __enter__(self):
        _sh(["tc", "qdisc", "add", "dev", self.c.veth[self.i], "root", *self.tbf])
        _sh(["ip", "netns", "exec", self.c.netns[self.i], "tc", "qdisc", "add", "dev", "eth0", "root", *self.tbf])
        return self

    def __exit__(self, *exc):
        _sh(["tc", "qdisc", "del", "dev", self.c.veth[self.i], "root"], check=False)
        _sh(["ip", "netns", "exec", self.c.netns[self.i], "tc", "qdisc", "del", "dev", "eth0", "root"], check=False)
        return False


class Cluster:
    """A running (or to be started) three-node cluster. Attributes once started:
    tmp, conf, env (SLURM_CONF set), slot, subnet ("10.213.K"), bridge, netns[i], veth[i],
    node_addr[i], nodes ["n1", "n2", "n3"]."""

    def __init__(self, state_dir, log=print):
        self.state_dir = os.path.abspath(state_dir)
        self.state_file = os.path.join(self.state_dir, "cluster.json")
        self.log = log
        self.tmp = None

    # ---- life cycle ----
    def start(self, owner_pid=None):
        t0 = time.time()
        if os.getuid() != 0:
            raise RuntimeError("the test cluster needs root (network namespaces, SlurmUser=root)")
        for tool in ("ip", "tc", "nsenter", "unshare", "munged", "mungekey", "slurmctld", "slurmd", "sbatch",
                     "scontrol", "squeue", "sinfo"):
            if not shutil.which(tool) and not os.path.exists(f"/usr/sbin/{tool}"):
                raise RuntimeError(f"{tool} not found: install iproute2, util-linux, slurm-wlm and munge "
                                   "(.ci/install-deps.sh)")
        os.makedirs(self.state_dir, exist_ok=True)
        if os.path.exists(self.state_file):      # this state dir's previous cluster: stop it first
            self.attach()
            self.stop()
        owner = owner_pid if owner_pid is not None else os.getppid()
        self.slot = _claim_slot(owner, self.log)
        n = names(self.slot)
        self.bridge, self.netns, self.veth, self.subnet = n["bridge"], n["netns"], n["veth"], n["subnet"]
        self.nodes = [f"n{i}" for i in range(1, NODES + 1)]
        self.node_addr = [f"{self.subnet}.{10 + i}" for i in range(1, NODES + 1)]
        self.ctl_addr = f"{self.subnet}.1"
        self.tmp = tempfile.mkdtemp(prefix=f"jcc{self.slot}-")
        os.chmod(self.tmp, 0o755)
        self.conf = os.path.join(self.tmp, "slurm.conf")
        self.env = dict(os.environ, SLURM_CONF=self.conf)
        self._save(owner)
        try:
            self._check_subnet_free()
            self._network()
            self._munge()
            self.ctl_port = _free_port()
            self._write_conf()
            # slurmctld with hostname jcctl (its own UTS namespace), on the bridge address
            self._check(["unshare", "--uts", "sh", "-c", f"hostname jcctl && exec slurmctld -c -f {self.conf}"])
            for i, node in enumerate(self.nodes):
                self._check(["nsenter", f"--net=/run/netns/{self.netns[i]}", "unshare", "--uts", "sh", "-c",
                             f"hostname {node} && exec slurmd -N {node} -f {self.conf}"])
            self.wait_idle(30)
        except BaseException:
            self.log(self.logs())
            self.stop()
            raise
        self.log(f"vcluster: up in {time.time() - t0:.1f} s: slot {self.slot}, bridge {self.bridge} "
                 f"{self.ctl_addr}/24, nodes {', '.join(f'{a}={b}' for a, b in zip(self.nodes, self.node_addr))}, "
                 f"SLURM_CONF={self.conf}")
        return self

    def attach(self):
        """Take over a running cluster from its state file (cluster.json in state_dir)."""
        try:
            with open(self.state_file) as f:
                st = json.load(f)
        except (OSError, ValueError) as e:
            raise RuntimeError(f"no test cluster in {self.state_dir} ({e}); start one with vcluster.py start")
        for k, v in st.items():
            setattr(self, k, v)
        self.env = dict(os.environ, SLURM_CONF=self.conf)
        return self

    def stop(self):
        if self.tmp:
            keep = os.path.join(self.state_dir, "last-logs")   # for a look after the cluster is gone
            shutil.rmtree(keep, ignore_errors=True)
            os.makedirs(keep, exist_ok=True)
            for f in os.listdir(self.tmp) if os.path.isdir(self.tmp) else []:
                if f.endswith(".log") or f == "slurm.conf":
                    shutil.copy(os.path.join(self.tmp, f), keep)
            try:
                with open(os.path.join(REGISTRY, f"slot-{self.slot}.json")) as f:
                    mine = json.load(f).get("tmp") == self.tmp
            except (OSError, ValueError):
                mine = False
            # a slot that has been taken over meanwhile keeps its network (only ours goes)
            teardown_slot(self.slot, self.tmp, self.log, network=mine)
            self.tmp = None
        if os.path.exists(self.state_file):
            os.unlink(self.state_file)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    # ---- building blocks ----
    def _save(self, owner):
        st = {k: getattr(self, k) for k in ("slot", "tmp", "conf", "subnet", "bridge", "netns", "veth", "nodes",
                                             "node_addr", "ctl_addr")}
        with open(self.state_file, "w") as f:
            json.dump(st, f, indent=1)
        reg = os.path.join(REGISTRY, f"slot-{self.slot}.json")
        with open(reg) as f:
            own = json.load(f)
        own.update(st)
        with open(reg, "w") as f:
            json.dump(own, f, indent=1)

    def _check_subnet_free(self):
        routes = _sh(["ip", "-4", "route", "show", "match", f"{self.subnet}.0/24"]).stdout
        for line in routes.splitlines():
            if not line.startswith("default") and f" dev {self.bridge} " not in line + " ":
                raise RuntimeError(f"the subnet {self.subnet}.0/24 is already routed on this machine ({line}); "
                                   f"the test cluster needs it for itself")

    def _network(self):
        ip = lambda *a: _sh(["ip", *a])  # noqa: E731
        ip("link", "add", self.bridge, "type", "bridge")
        ip("addr", "add", f"{self.ctl_addr}/24", "dev", self.bridge)
        ip("link", "set", self.bridge, "up")
        for i, ns in enumerate(self.netns):
            ip("netns", "add", ns)
            ip("link", "add", self.veth[i], "type", "veth", "peer", "name", "eth0", "netns", ns)
            ip("link", "set", self.veth[i], "master", self.bridge)
            ip("link", "set", self.veth[i], "up")
            ip("-n", ns, "addr", "add", f"{self.node_addr[i]}/24", "dev", "eth0")
            ip("-n", ns, "link", "set", "eth0", "up")
            ip("-n", ns, "link", "set", "lo", "up")
        # the nodes reach each other and the controller (through the bridge) before SLURM starts
        for i, ns in enumerate(self.netns):
            for addr in [self.ctl_addr] + self.node_addr:
                r = _sh(["ip", "netns", "exec", ns, "ping", "-c1", "-W2", addr], check=False) \
                    if shutil.which("ping") else None
                if r is not None and r.returncode != 0:
                    raise RuntimeError(f"node {self.nodes[i]} cannot reach {addr} over the bridge: {r.stdout}")

    def _munge(self):
        t = self.tmp
        for d, mode in (("munge", 0o755), ("munge-key", 0o700), ("state", 0o755), ("spool", 0o755),
                        ("tmpfs", 0o755)):
            os.makedirs(os.path.join(t, d))
            os.chmod(os.path.join(t, d), mode)
        self.munge_socket = os.path.join(t, "munge", "munge.socket.2")
        key = os.path.join(t, "munge-key", "munge.key")
        self._check(["mungekey", "-c", "-k", key])
        self._check(["munged", "--socket", self.munge_socket, "--key-file", key,
                     "--log-file", os.path.join(t, "munged.log"), "--pid-file", os.path.join(t, "munge", "munged.pid"),
                     "--seed-file", os.path.join(t, "munge", "munged.seed"), "--force"])

    def _write_conf(self):
        t = self.tmp
        for node in self.nodes:
            os.makedirs(os.path.join(t, "tmpfs", node))
        mem = 1000
        with open(self.conf, "w") as f:
            f.write(f"""# written by tests/cluster/vcluster.py (slot {self.slot})
ClusterName=jcc{self.slot}
SlurmctldHost=jcctl({self.ctl_addr})
SlurmctldPort={self.ctl_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={self.munge_socket},cred_expire=5
StateSaveLocation={t}/state
SlurmdSpoolDir={t}/spool/%n
SlurmctldPidFile={t}/slurmctld.pid
SlurmdPidFile={t}/slurmd-%n.pid
SlurmctldLogFile={t}/slurmctld.log
SlurmdLogFile={t}/slurmd-%n.log
TmpFS={t}/tmpfs/%n
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=pmix
SchedulerParameters=sched_interval=1,bf_interval=1
ReturnToService=2
JobRequeue=1
KillWait=3
MinJobAge=600
# node loss: a node that does not answer for SlurmdTimeout seconds is set DOWN and its jobs
# are killed (and requeued: JobRequeue=1); MessageTimeout bounds each RPC
SlurmdTimeout={SLURMD_TIMEOUT}
MessageTimeout=5
TCPTimeout=2
InactiveLimit=0
NodeName=n[1-{NODES}] NodeHostname=n[1-{NODES}] NodeAddr={self.subnet}.[11-{10 + NODES}] Port=6818 CPUs=2 RealMemory={mem} State=UNKNOWN
PartitionName=test Nodes=n[1-{NODES}] Default=YES MaxTime=INFINITE State=UP
""")

    # ---- helpers for tests ----
    def _check(self, cmd):
        r = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")

    def run(self, cmd, timeout=60, **kw):
        return subprocess.run(cmd, env=kw.pop("env", self.env), capture_output=True, text=True, timeout=timeout, **kw)

    def node_states(self):
        r = self.run(["sinfo", "-h", "-N", "-o", "%N %T"])
        return dict(l.split() for l in r.stdout.splitlines() if len(l.split()) == 2)

    def wait_idle(self, timeout):
        """Wait until every node is idle (no job, not down); raise with the logs otherwise."""
        t0 = time.time()
        st = {}
        while time.time() - t0 < timeout:
            st = self.node_states()
            if len(st) == NODES and all(s == "idle" for s in st.values()):
                return time.time() - t0
            time.sleep(0.3)
        raise RuntimeError(f"nodes not idle after {timeout} s: {st}\n" + self.logs())

    def job(self, job_id):
        """scontrol show job as a dict (JobState, Restarts, ExitCode, NodeList, ...)."""
        r = self.run(["scontrol", "show", "job", "-o", str(job_id)])
        out = {}
        for kv in r.stdout.split():
            if "=" in kv:
                k, v = kv.split("=", 1)
                out.setdefault(k, v)
        return out

    def slurmd_pid(self, i):
        return _read_pid(os.path.join(self.tmp, f"slurmd-{self.nodes[i]}.pid"))

    def start_slurmd(self, i):
        self._check(["nsenter", f"--net=/run/netns/{self.netns[i]}", "unshare", "--uts", "sh", "-c",
                     f"hostname {self.nodes[i]} && exec slurmd -N {self.nodes[i]} -f {self.conf}"])

    def node_pids(self, i):
        """Every process in node i's network namespace (its slurmd, slurmstepd, ranks)."""
        return pids_in_netns([self.netns[i]])

    def link_bytes(self):
        """{veth: (rx, tx)} as seen from the bridge side: rx = sent by the node, tx = received."""
        out = {}
        for v in self.veth:
            with open(f"/sys/class/net/{v}/statistics/rx_bytes") as f:
                rx = int(f.read())
            with open(f"/sys/class/net/{v}/statistics/tx_bytes") as f:
                tx = int(f.read())
            out[v] = (rx, tx)
        return out

    def logs(self, tail=3000):
        text = ""
        if not self.tmp:
            return text
        for name in ["slurmctld.log"] + [f"slurmd-{n}.log" for n in getattr(self, "nodes", [])] + ["munged.log"]:
            p = os.path.join(self.tmp, name)
            if os.path.exists(p):
                with open(p, errors="replace") as f:
                    text += f"---- {name} ----\n{f.read()[-tail:]}\n"
        return text


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("action", choices=["start", "stop", "status", "env"])
    ap.add_argument("--state", default="/tmp/jetcnn-cluster", help="where cluster.json is kept (default %(default)s)")
    ap.add_argument("--owner-pid", type=int, help="the cluster is stale once this process is gone (default: the "
                    "parent process; `start` by hand: kept until `stop`)")
    ap.add_argument("--manual", action="store_true", help="keep the cluster until `stop`, whoever started it")
    a = ap.parse_args()
    c = Cluster(a.state, log=lambda m: print(m, file=sys.stderr, flush=True))
    try:
        if a.action == "start":
            c.start("manual" if a.manual else (a.owner_pid or os.getppid()))
            print(f"export SLURM_CONF={c.conf} JETCNN_NET={c.subnet}.0/24")
        elif a.action == "stop":
            if os.path.exists(c.state_file):
                c.attach()
            c.stop()
        elif a.action == "status":
            c.attach()
            print(c.run(["sinfo", "-N", "-l"]).stdout)
        else:
            c.attach()
            print(f"export SLURM_CONF={c.conf} JETCNN_NET={c.subnet}.0/24")
    except RuntimeError as e:
        print(f"vcluster: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
