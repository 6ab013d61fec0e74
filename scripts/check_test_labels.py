#!/usr/bin/env python3
"""Checks how the tests of a build directory are registered with CTest.

  check_test_labels.py BUILD_DIR LABEL...

Fails unless every test has at least one label and a timeout of its own (not
CTest's default of 10^7 s), and every LABEL given (the labels the build
registers, cmake/VmreclaimTesting.cmake) selects at least one test with
`ctest -L`. A label or timeout lost on the way from CMake to CTest, as
gtest_discover_tests' PROPERTIES did with lists and TIMEOUT, fails here.
"""
import json
import re
import subprocess
import sys


def ctest(build, *args):
    return subprocess.run(["ctest", "--test-dir", build, *args], check=True, capture_output=True, text=True).stdout


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    build, wanted = sys.argv[1], sorted(set(sys.argv[2:]))
    doc = json.loads(ctest(build, "--show-only=json-v1"))
    problems = []
    seen = set()
    for test in doc["tests"]:
        props = {p["name"]: p["value"] for p in test.get("properties", [])}
        labels = props.get("LABELS") or []
        timeout = props.get("TIMEOUT")
        seen.update(labels)
        if not labels:
            problems.append(f"{test['name']}: no label")
        if timeout is None or not 0 < float(timeout) < 10000000:
            problems.append(f"{test['name']}: no timeout of its own ({timeout})")
    for label in wanted:
        # What `ctest -L` itself selects, not only what the JSON lists.
        out = ctest(build, "-N", "-L", f"^{re.escape(label)}$")
        m = re.search(r"Total Tests: (\d+)", out)
        n = int(m.group(1)) if m else 0
        if n == 0:
            problems.append(f"label {label}: `ctest -L {label}` selects no test")
        else:
            print(f"label {label}: {n} tests")
    for label in sorted(seen - set(wanted)):
        problems.append(f"label {label}: used by a test but not registered (a typo, or a test added by hand?)")
    for p in problems:
        print("FAIL:", p, file=sys.stderr)
    if problems:
        return 1
    print(f"{len(doc['tests'])} tests, every one with labels and a timeout")
    return 0


if __name__ == "__main__":
    sys.exit(main())
