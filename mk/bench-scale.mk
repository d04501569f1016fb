# Scale, as part of `make bench` (scripts/bench-scale.sh): 10 and 100 concurrent creates next to
# crun and runc (ms per container, and how it grows), then SCALE_RUNS (10000) consecutive
# `baleia run`s that must neither fail nor hang. About 15 minutes with the default SCALE_RUNS
# on the development VM; `make bench-scale SCALE_RUNS=500` for a quick look.
.PHONY: bench-scale
bench: bench-scale
bench-scale: deps build
	$(BENCH_ENV) scripts/bench-scale.sh
