# faceprint — two commands do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
SHARED ?= $(abspath ../shared)
export FACEPRINT_MODEL_MIRROR ?= $(SHARED)/models
export FACEPRINT_HOME ?= $(abspath .faceprint-home)
export FACEPRINT_OFFLINE ?= 1
export FACEPRINT_SHARED ?= $(SHARED)

.PHONY: audit install demo test unit lint typecheck test-tools wheel-check serve eval-lfw bench bench-peer bench-security bench-service bench-video bench-attributes bench-fairness bench-cluster bench-privacy bench-robustness eval-robustness clean

$(BIN)/faceprint: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[all,dev]'
	@# PyTorch (CPU build, present on this project's machines) lets the tests check the
	@# GPU code path on the CPU; without it those tests skip.
	-$(BIN)/python -m pip install --quiet torch==2.13.0 || echo "torch not installed: torch-path tests will skip"
	@touch $@

install: $(BIN)/faceprint  ## create .venv with faceprint (editable) and its CLI

demo: install  ## pull default models, enroll the sample people, identify the probes
	$(BIN)/faceprint models pull --default
	rm -f .demo-gallery.db
	$(BIN)/faceprint enroll --gallery .demo-gallery.db $(SHARED)/datasets/samples/known
	$(BIN)/faceprint identify --gallery .demo-gallery.db \
		$(SHARED)/datasets/samples/probes $(SHARED)/datasets/samples/groups/two_people.jpg

test-tools:  ## Debian's Chromium (web page test) and FFmpeg (ffprobe in the video test); needs root and apt
	@missing=""; [ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	command -v ffprobe >/dev/null || missing="$$missing ffmpeg"; \
	if [ -n "$$missing" ]; then apt-get update -qq && \
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; fi; \
	/usr/bin/chromium --version; ffprobe -version | head -1

serve: install  ## run the REST service and web page on http://127.0.0.1:8000 (key: faceprint keys create)
	$(BIN)/faceprint models pull --default
	$(BIN)/faceprint serve --host 127.0.0.1 --port 8000

lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/lint-imports

typecheck: install
	$(BIN)/mypy

unit: install
	$(BIN)/pytest -q tests/unit

test: install lint typecheck  ## lint, types, layer contracts, unit + integration tests
	$(BIN)/pytest -q

wheel-check: install  ## build the wheel; install it bare and with [all] in fresh venvs, use both
	$(BIN)/python tools/wheel_smoke.py --shared $(SHARED)

eval-lfw: install  ## full LFW 10-fold evaluation of the default pipeline
	$(BIN)/faceprint eval lfw --root $(SHARED)/datasets/lfw/images --pairs $(SHARED)/datasets/lfw/pairs.txt

bench: install  ## end-to-end CPU throughput on the LFW images (2 threads)
	$(BIN)/python benchmarks/throughput.py --threads 2

bench-peer: install  ## faceprint vs the face_recognition package on the same images
	$(BIN)/python -m pip install --quiet dlib-bin face_recognition_models "setuptools<81"  # the peer needs pkg_resources
	$(BIN)/python -m pip install --quiet --no-deps face_recognition
	OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 $(BIN)/python benchmarks/compare_peer.py --limit 1000
	$(BIN)/python benchmarks/cli_speed.py --limit 1000  # both CLIs as whole processes, start-up

bench-service: install  ## REST service under load: verify/search req/s and latency, no lost writes
	$(BIN)/python benchmarks/service_load.py

bench-security: install  ## hill-climbing detector: when it flags 10 attacks, false alarms on a video stream; non-face gates
	$(BIN)/python benchmarks/hill_climb_detection.py --targets 10 --budget 300 --json docs/bench/hill-climb/detection.json
	$(BIN)/python benchmarks/hill_climb_false_alarms.py --json docs/bench/hill-climb/false-alarms.json
	$(BIN)/python benchmarks/nonface_gates.py --json docs/bench/nonface-gates.json

bench-video: install  ## video recognition on a 720p file: × real time, frames/faces processed
	$(BIN)/python benchmarks/video_throughput.py --threads 2

eval-robustness: install  ## LFW under nine capture degradations, restoration on and off (folds 1-2)
	$(BIN)/faceprint eval robustness --root $(SHARED)/datasets/lfw/images --pairs $(SHARED)/datasets/lfw/pairs.txt --folds 1-2 \
		--compare-raw --output robustness.json --plot robustness.png

bench-robustness: install  ## the same degradations through faceprint and the face_recognition package
	$(BIN)/python -m pip install --quiet dlib-bin face_recognition_models "setuptools<81"
	$(BIN)/python -m pip install --quiet --no-deps face_recognition
	$(BIN)/python benchmarks/robustness_peer.py --folds 1-2 --out robustness-peer.json

bench-privacy: install  ## encrypted search (CKKS) at 1k/10k/100k and the threshold-Paillier variant at 1k/10k
	$(BIN)/python benchmarks/privacy_search.py --sizes 1000 10000 100000 --json docs/bench/privacy-search.json
	$(BIN)/python benchmarks/privacy_threshold.py --sizes 1000 10000 --json docs/bench/privacy-threshold.json

audit: install  ## security audit of the default pipeline and service on LFW (docs/security.md; ~45 min)
	$(BIN)/faceprint audit $(SHARED)/datasets/lfw/images --out docs/bench/audit-sface

bench-attributes: install  ## gender accuracy on LFW against first-name-derived labels
	$(BIN)/python -m pip install --quiet gender-guesser  # GPL-3.0: benchmark-only, never a dependency
	$(BIN)/python benchmarks/attributes_lfw.py

bench-fairness: install  ## per-group error audit on LFW, held-out mitigations, matching speed with each adjuster
	$(BIN)/python -m pip install --quiet gender-guesser  # GPL-3.0: benchmark-only, never a dependency
	$(BIN)/python benchmarks/fairness_lfw.py

bench-cluster: install  ## face clustering on LFW: faceprint eval cluster vs dlib's Chinese Whispers on face_recognition encodings
	$(BIN)/python -m pip install --quiet dlib-bin face_recognition_models "setuptools<81"  # benchmark-only; the peer needs pkg_resources
	$(BIN)/python -m pip install --quiet --no-deps face_recognition
	$(BIN)/python benchmarks/cluster_peer.py
	$(BIN)/python benchmarks/cluster_lfw.py

clean:
	rm -rf $(VENV) .faceprint-home .demo-gallery.db .pytest_cache .mypy_cache .ruff_cache
