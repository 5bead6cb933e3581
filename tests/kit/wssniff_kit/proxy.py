"""`wssniff proxy` as a child process of a raw-socket test: started on an ephemeral port (its
`listening on` line read from stderr), watched (descriptors, resident memory, accept backlog)
and stopped (SIGTERM, exit status, nothing leaked).
"""

import os
import resource
import signal
import subprocess
import threading
import time

from wssniff_kit.checks import CheckFailed, check, log
from wssniff_kit.processes import die_with_parent
from wssniff_kit.records import parse_ndjson
from wssniff_kit.sockets import LOOPBACK

# How far above its starting size the proxy's resident memory may stay once every connection is
# gone. By design it keeps up to 64 spare 64 KiB read buffers (4 MiB) for the next connections,
# and glibc keeps freed heap that sits below live blocks instead of returning it; the other
# 4 MiB are for that. A leak of a few kB per connection still shows after hundreds of them.
# Under a sanitizer WSSNIFF_RSS_FACTOR (set by CMake) scales it, as for the ceilings, and
# WSSNIFF_RSS_HELD_KB (set by CTest) adds what the sanitizer's allocator keeps of the memory the
# proxy freed: the record queue's peak, ASan's quarantine (cmake/sanitizers.cmake says how much,
# and why).
RSS_SETTLE_KB = (int(8 * 1024 * float(os.environ.get("WSSNIFF_RSS_FACTOR", "1")))
                 + int(os.environ.get("WSSNIFF_RSS_HELD_KB", "0")))

# After many connections were open at once, glibc also keeps the heap they needed: measured
# +10 MiB after 500 at once, and up to +27 MiB after a dozen such waves, while malloc_stats()
# showed 0.4 MiB in use (no leak). That is up to ~55 KiB per connection of peak concurrency;
# cases with many connections open at once add this per connection to RSS_SETTLE_KB.
RETAINED_KB_PER_PEAK_CONNECTION = int(64 * float(os.environ.get("WSSNIFF_RSS_FACTOR", "1")))

# The proxy's resident memory may grow this far over its own start whatever the traffic: it
# keeps one buffer per direction and a bounded record queue. Measured over the start, not as a
# total: the program's own pages grow with its features (under ASan they are over 100 MiB
# before the first connection, 57 MiB a few features ago), and are not what the traffic
# made it hold. WSSNIFF_RSS_FACTOR (set by CMake, 1 in the plain build) scales it for a
# sanitizer's own memory: cmake/sanitizers.cmake.
RSS_GROWTH_LIMIT_KB = int(56 * 1024 * float(os.environ.get("WSSNIFF_RSS_FACTOR", "1")))


class Proxy:
    """`wssniff proxy` as a child process. Records go to `output` (--output) or, when it is
    None, to a pipe on its stdout that the test reads (or does not) itself."""

    def __init__(self, wssniff, upstream_port, output=None, args=(), start_timeout=10,
                 open_files=None):
        self.output = output

        def prepare_child():
            die_with_parent()
            if open_files is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, (open_files, open_files))

        # upstream_port None: no --upstream (a forward proxy, whose clients name their servers).
        command = [wssniff, "proxy", "--listen", f"{LOOPBACK}:0"]
        if upstream_port is not None:
            command += ["--upstream", f"ws://{LOOPBACK}:{upstream_port}"]
        if output is not None:
            command += ["--output", output]
        command += list(args)
        log("+ " + " ".join(command))
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL,
                                        preexec_fn=prepare_child,
                                        stdout=subprocess.PIPE if output is None
                                        else subprocess.DEVNULL,
                                        stderr=subprocess.PIPE)
        self.pid = self.process.pid
        self.stdout = self.process.stdout
        self.stderr_lines = []
        self._listening = threading.Event()
        self.port = None
        self._stderr_reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._stderr_reader.start()
        if not self._listening.wait(start_timeout):
            self.stop()
            raise CheckFailed(f"no 'listening on HOST:PORT' on the proxy's stderr within "
                              f"{start_timeout} s; stderr: {self.stderr_text()!r}")
        check(self.port is not None, f"bad listening line: {self.stderr_text()!r}")
        self.exit_code = None
        # What the idle proxy holds: every case ends by checking it is back to this.
        self.baseline_fds = self.open_fds()
        self.baseline_rss_kb = self.rss_kb()
        # What the idle proxy holds besides its connections: its listeners (the proxy's, and
        # the --metrics server's when there is one) and the records' socket with a tcp:// or
        # unix:// --output.
        self.baseline_sockets = self.open_sockets()

    def _read_stderr(self):
        for raw in self.process.stderr:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self.stderr_lines.append(line)
            if self.port is None and line.startswith("listening on "):
                host, _, port = line[len("listening on "):].rpartition(":")
                if host == LOOPBACK and port.isdigit():
                    self.port = int(port)
                self._listening.set()
        self._listening.set()

    def stderr_text(self):
        return "\n".join(self.stderr_lines)

    def alive(self):
        return self.process.poll() is None

    def rss_kb(self):
        try:
            with open(f"/proc/{self.pid}/status") as status:
                for line in status:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
        except OSError:
            pass
        return None

    def cpu_seconds(self):
        """User plus system CPU time the proxy has used so far."""
        with open(f"/proc/{self.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def open_fds(self):
        """Every descriptor the proxy holds, by what it points at (None once it has exited)."""
        fds = []
        try:
            for fd in os.listdir(f"/proc/{self.pid}/fd"):
                try:
                    fds.append(os.readlink(f"/proc/{self.pid}/fd/{fd}"))
                except OSError:
                    pass  # closed meanwhile
        except OSError:
            return None
        return sorted(fds)

    def check_no_leaks(self, timeout=5, rss_tolerance_kb=None, what="after the traffic"):
        """The proxy is back to what it held when it started: the same descriptors, exactly,
        and resident memory within `rss_tolerance_kb` of its starting size. Returns the RSS
        growth in kB."""
        if rss_tolerance_kb is None:
            rss_tolerance_kb = RSS_SETTLE_KB
        deadline = time.monotonic() + timeout
        while True:
            fds = self.open_fds()
            check(fds is not None and self.alive(),
                  f"the proxy exited while checking for leaks (exit {self.process.poll()}); "
                  f"stderr: {self.stderr_text()!r}")
            if len(fds) == len(self.baseline_fds):
                break
            if time.monotonic() > deadline:
                extra = sorted(set(fds) - set(self.baseline_fds))
                raise CheckFailed(f"{what}: the proxy holds {len(fds)} descriptors, "
                                  f"{len(self.baseline_fds)} when it started; new: {extra[:10]}")
            time.sleep(0.02)
        rss = self.rss_kb()
        grown = rss - self.baseline_rss_kb
        log(f"{what}: {len(fds)} descriptors as at start; RSS {rss} kB, "
            f"{grown:+d} kB since start (tolerance {rss_tolerance_kb} kB)")
        check(grown <= rss_tolerance_kb,
              f"{what}: the proxy's RSS is {rss} kB, {grown} kB more than at start "
              f"({self.baseline_rss_kb} kB); tolerance {rss_tolerance_kb} kB")
        return grown

    def open_sockets(self):
        """Sockets the proxy holds: its listener, and two per connection pair until the pair is
        torn down."""
        count = 0
        try:
            for fd in os.listdir(f"/proc/{self.pid}/fd"):
                try:
                    if os.readlink(f"/proc/{self.pid}/fd/{fd}").startswith("socket:"):
                        count += 1
                except OSError:
                    pass  # closed meanwhile
        except OSError:
            return None
        return count

    def accept_backlog(self):
        """Connections the kernel has completed on the proxy's listening socket that the proxy
        has not accepted yet (for a listening socket, /proc/net/tcp's rx_queue is that count)."""
        with open("/proc/net/tcp") as table:
            for line in table.readlines()[1:]:
                fields = line.split()
                local, state, queues = fields[1], fields[3], fields[4]
                if state == "0A" and int(local.split(":")[1], 16) == self.port:
                    return int(queues.split(":")[1], 16)
        raise CheckFailed(f"no listening socket on port {self.port} in /proc/net/tcp")

    def wait_accepted(self, timeout=10, what="the listen backlog accepted"):
        """Until the proxy has accepted every connection waiting on its listening socket."""
        deadline = time.monotonic() + timeout
        while self.accept_backlog() > 0:
            check(self.alive(), f"the proxy exited while waiting for {what}")
            if time.monotonic() > deadline:
                raise CheckFailed(f"{what}: {self.accept_backlog()} connections still wait "
                                  f"after {timeout} s")
            time.sleep(0.01)

    def wait_idle(self, timeout=10, what="connections torn down"):
        """Until the proxy holds no connection's sockets any more: its close records are
        written then, so a later SIGTERM cannot turn them into `shutdown`."""
        deadline = time.monotonic() + timeout
        while True:
            sockets = self.open_sockets()
            check(sockets is not None and self.alive(),
                  f"the proxy exited while waiting for {what} (exit {self.process.poll()}); "
                  f"stderr: {self.stderr_text()!r}")
            if sockets <= self.baseline_sockets:
                return
            if time.monotonic() > deadline:
                raise CheckFailed(f"{what}: the proxy still holds "
                                  f"{sockets - self.baseline_sockets} connection sockets after "
                                  f"{timeout} s")
            time.sleep(0.01)

    def terminate(self, timeout=5):
        """SIGTERM; returns (exit code, seconds to exit), or (None, timeout) when it did not
        exit in time (it is killed then)."""
        if self.process.poll() is not None:
            self.exit_code = self.process.returncode
            return self.exit_code, 0.0
        start = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        try:
            self.exit_code = self.process.wait(timeout)
            return self.exit_code, time.monotonic() - start
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
            return None, timeout

    def stop(self, timeout=5):
        """Always safe; returns the exit code (None: it had to be killed)."""
        code, _ = self.terminate(timeout)
        self._stderr_reader.join(5)
        return code

    def check_clean_exit(self, timeout=5, leaks=True):
        """SIGTERM with no connection open: exit 0. First (`leaks`), the descriptors and memory
        the traffic took must have been given back."""
        if leaks:
            self.check_no_leaks()
        code, took = self.terminate(timeout)
        self._stderr_reader.join(5)
        check(code is not None, f"the proxy did not exit within {timeout} s of SIGTERM")
        check(code == 0, f"the proxy exited {code} on SIGTERM; stderr: {self.stderr_text()!r}")
        return took

    def records(self):
        with open(self.output, "rb") as f:
            return parse_ndjson(f.read(), self.output)


class RssMonitor:
    """Samples the proxy's VmRSS until stopped; `peak_kb` is the largest sample. With
    `descriptors`, `history` keeps every sample as (seconds since start, RSS kB, open
    descriptors)."""

    def check_ceiling(self):
        """The peak stayed within RSS_GROWTH_LIMIT_KB of the proxy's resident memory at its
        start."""
        start = self.proxy.baseline_rss_kb
        check(self.peak_kb - start < RSS_GROWTH_LIMIT_KB,
              f"proxy RSS peaked at {self.peak_kb} kB, {self.peak_kb - start} kB over its "
              f"start ({start} kB); at most {RSS_GROWTH_LIMIT_KB} kB over is allowed")

    def __init__(self, proxy, interval=0.05, descriptors=False):
        self.proxy = proxy
        self.interval = interval
        self.descriptors = descriptors
        self.peak_kb = 0
        self.samples = 0
        self.history = []
        self.started = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            rss = self.proxy.rss_kb()
            fds = self.proxy.open_fds() if self.descriptors else None
            if rss is not None and (fds is not None or not self.descriptors):
                self.peak_kb = max(self.peak_kb, rss)
                self.samples += 1
                if self.descriptors:
                    self.history.append((time.monotonic() - self.started, rss, len(fds)))
            self._stop.wait(self.interval)

    def stop(self):
        self._stop.set()
        self._thread.join(5)
