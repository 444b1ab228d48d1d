#!/usr/bin/env python3
"""Run qtest traces one after the other in one QEMU, with a system_reset
over QMP after each (as generic-fuzz resets after each input), then stop
QEMU with SIGTERM, a normal exit (gcov writes its counters then).

replay-qtest.py ORDER QMP_SOCKET QEMU_COMMAND...
  ORDER       a file listing the trace files, one per line
  QMP_SOCKET  the unix socket QEMU_COMMAND's -qmp listens on
  QEMU_COMMAND  with -qtest stdio
replay-qtest.py --trace LOG
  prints the qtest trace of a generic-fuzz QTEST_LOG=1 log: the commands,
  each DMA fill moved before the command that made the device read it.
  (QEMU's reorder_fuzzer_qtest_trace.py expects the "[DMA]" tag on the
  line of the write it tags; here qtest's log warns about its timer in
  between, so the tag ends its own line.)
"""
import json
import signal
import socket
import subprocess
import sys
import time


def trace(log):
    out = []
    last_cmd = None     # where the last non-DMA command is in out
    dma = False
    for line in open(log, errors="replace"):
        if "[DMA]" in line:
            dma = True
        if "[R +" not in line:
            continue
        cmd = line[line.index("[R +"):].split("]", 1)[1].strip()
        if dma and last_cmd is not None:
            out.insert(last_cmd, cmd)
            last_cmd += 1
        else:
            last_cmd = len(out)
            out.append(cmd)
        dma = False
    for c in out:
        print(c)


def main():
    if sys.argv[1] == "--trace":
        trace(sys.argv[2])
        return
    order, sock, cmd = sys.argv[1], sys.argv[2], sys.argv[3:]
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True, bufsize=1)

    def qtest(line):
        p.stdin.write(line + "\n")
        p.stdin.flush()
        while True:
            ans = p.stdout.readline()
            if not ans:
                raise EOFError("QEMU ended")
            if not ans.startswith("IRQ"):
                return ans

    qtest("clock_step 0")       # QEMU is up: its QMP socket listens
    q = socket.socket(socket.AF_UNIX)
    for _ in range(100):
        try:
            q.connect(sock)
            break
        except OSError:
            time.sleep(0.1)
    qf = q.makefile("rw")
    qf.readline()               # the greeting
    qf.write(json.dumps({"execute": "qmp_capabilities"}) + "\n")
    qf.flush()
    qf.readline()

    def reset():
        qf.write(json.dumps({"execute": "system_reset"}) + "\n")
        qf.flush()
        got_ret = got_ev = False
        while not (got_ret and got_ev):
            m = json.loads(qf.readline())
            got_ret |= "return" in m
            got_ev |= m.get("event") == "RESET"
        # one qtest round trip: the main loop has finished the reset
        qtest("clock_step 0")

    done = bad = 0
    for path in open(order).read().split():
        try:
            for line in open(path):
                line = line.strip()
                if line:
                    qtest(line)
            reset()
            done += 1
        except (EOFError, BrokenPipeError, OSError) as e:
            bad += 1
            print(f"{path}: {e}", file=sys.stderr)
            break
    p.send_signal(signal.SIGTERM)
    try:
        rc = p.wait(timeout=60)
    except subprocess.TimeoutExpired:
        p.kill()
        rc = -9
    print(f"traces replayed: {done}; failed: {bad}; QEMU exit {rc}")
    sys.exit(0 if not bad and rc == 0 else 1)


if __name__ == "__main__":
    main()
