"""The benchmark's register phase (bench.register.phase): the edge pod as Kubernetes runs it,
the SDK's worker with one job process per call, measured for call start time, memory per job
process and broker memory per live call."""
