# Multi-process cluster tests (dkv serve processes); see tests/cluster_procs.sh.
