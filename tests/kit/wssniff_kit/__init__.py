"""The Python test kit of wssniff: what the tests that drive the `wssniff` binary share.

    checks         CheckFailed, check(), log(): how a check fails and how a test prints
    wire           opcodes, frames, masks, close payloads, a frame parser, byte comparisons
    heads          HTTP upgrade heads: keys, accepts, requests, responses, the Host rewrite
    sockets        raw TCP peers on 127.0.0.1 (Peer, Upstream, connect, exchange)
    echo           EchoUpstream: an echoing WebSocket server for many connections
    proxy          Proxy: `wssniff proxy` as a child (listening port, descriptors, memory, exit)
    pairs          a client and an upstream upgraded through the proxy, opened and closed
    records        NDJSON records parsed and checked (frames, errors, close)
    runner         run_cases(): the PASS/FAIL-within-a-budget main of a script of cases
    processes      child processes with deadlines, for tests with real peers as programs
    conversations  a planned conversation between real peers and what its records must say

CMake puts this folder on PYTHONPATH for every Python test (wssniff_python_test in
tests/CMakeLists.txt); a script imports what it needs, e.g.
`from wssniff_kit.runner import run_cases`.
"""
