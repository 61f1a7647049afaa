# Payload tests: one line per run (scenarios/payloads/<name>.c, expected
# console output in scenarios/payloads/<name>.out). Exit statuses:
# docs/exit-status.md (1 = the payload exited with 0).
hvsim_payload_test(hello STATUS 1)
