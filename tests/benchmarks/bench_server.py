"""What the PyTorch sides of the step benchmarks share (tests/Benchmarks.Shared/PythonServer.cs is the other end):
one JSON line per answer on stdout, and the process's resident memory for the "rss" command."""
import json
import sys


def memory_kib():
    """Peak (VmHWM) and current (VmRSS) resident memory of this process, in KiB (Linux)."""
    out = {"vmhwm_kib": -1, "vmrss_kib": -1}
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    out["vmhwm_kib"] = int(line.split()[1])
                elif line.startswith("VmRSS:"):
                    out["vmrss_kib"] = int(line.split()[1])
    except OSError:
        pass
    return out


def send(obj):
    """One answer: a JSON line, flushed at once (the C# side reads line by line)."""
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()
