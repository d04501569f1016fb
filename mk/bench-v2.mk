# `make bench-v2`: scripts/bench.sh's measurement (run, create+start+delete, exec, peak RSS,
# syscalls) for baleia, crun and runc inside the pure cgroup v2 QEMU VM of tools/cgv2-vm
# (scripts/bench-v2.sh). Emulated: only the ratios within one run mean anything. Takes the
# same CRUN= RUNC= YOUKI= REPS= RUNS= WARMUP= as `make bench`; OUT defaults to
# target/bench/bench-v2.json. Not part of `make test` or `make bench`.
.PHONY: bench-v2
bench-v2: deps build
	$(BENCH_ENV) scripts/bench-v2.sh
