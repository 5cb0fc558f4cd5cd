# The two commands a newcomer needs: `make demo` and `make test`. Both install what is missing
# (Debian packages, a virtual environment, the package) and are safe to run again.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BUILD := build/cmake
BUILD_NOCUDA := build/cmake-nocuda
BUILD_TSAN := build/cmake-tsan
BUILD_ASAN := build/cmake-asan
JOBS ?= $(shell nproc)
CMAKE_ARGS ?=
FUZZ_SECONDS ?= 20
export CCACHE_DIR ?= $(HOME)/.cache/ccache
export CMAKE_BUILD_PARALLEL_LEVEL := $(JOBS)

.PHONY: demo notebook test test-cpp test-python test-nocuda test-tsan test-asan fuzz deps venv build install bench gpu-check lint clean

# The quickstart, the whole lifecycle (examples/lifecycle.py: pipeline, HPO, 2-process training,
# registry, serving, Kubeflow compile; store in examples/outputs/lifecycle), then the C++ trainer
# built against the installed library (no Python inside).
demo: install
	$(PY) examples/quickstart.py
	$(PY) examples/lifecycle.py
	cmake --install $(BUILD) --prefix build/prefix >/dev/null
	cmake -S examples/cpp -B build/app -G Ninja -DCMAKE_BUILD_TYPE=Release \
	  -DCMAKE_PREFIX_PATH=$(abspath build/prefix)
	cmake --build build/app
	$(PY) examples/cpp/export_digits.py build/digits.csv
	build/app/train_digits_cpp build/digits.csv build/digits_model

test: test-cpp test-python

# JupyterLab on examples/ with the venv's kernel (jupyterlab is installed on first use).
notebook: install
	$(PY) -m pip install -q "jupyterlab>=4"
	cd examples && $(abspath $(VENV))/bin/jupyter lab --no-browser --ip=127.0.0.1

deps:
	bash scripts/install-deps.sh

$(VENV)/.ready: pyproject.toml requirements-test.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip "setuptools>=77" wheel "pybind11>=2.12"
	$(PY) -m pip install -q -r requirements-test.txt
	touch $@

venv: deps $(VENV)/.ready

# One CMake build for the library, the C++ tests, the benchmarks and the extension module.
build: venv
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release -DPython_EXECUTABLE=$(abspath $(PY)) \
	  -Dpybind11_DIR=$$($(PY) -c 'import pybind11; print(pybind11.get_cmake_dir())') -DMLCORE_BUILD_PYTHON=ON -DMLCORE_BUILD_TESTS=ON -DMLCORE_BUILD_BENCHMARKS=ON $(CMAKE_ARGS)
	cmake --build $(BUILD)

# pip install reuses the same CMake build, so nothing compiles twice.
install: build
	MLCORE_CMAKE_BUILD_DIR=$(abspath $(BUILD)) $(PY) -m pip install -q --no-build-isolation .

test-cpp: build
	cd $(BUILD) && ctest --output-on-failure --timeout 600 -j $(JOBS)

test-python: install
	$(PY) -m pytest -q tests/python

# The same sources without CUDA: the build every machine without nvcc gets.
test-nocuda: deps
	cmake -S . -B $(BUILD_NOCUDA) -G Ninja -DCMAKE_BUILD_TYPE=Release -DMLCORE_WITH_CUDA=OFF \
	  -DMLCORE_BUILD_PYTHON=OFF -DMLCORE_BUILD_TESTS=ON -DMLCORE_BUILD_BENCHMARKS=OFF
	cmake --build $(BUILD_NOCUDA)
	cd $(BUILD_NOCUDA) && ctest --output-on-failure --timeout 600 -j $(JOBS)

# The threaded C++ tests under ThreadSanitizer: the library and only these test files, without
# CUDA or Python. Races in nn, the thread pool, Datasets' prefetch, parallel studies and the
# dist communicator, reducer and stores (ranks as threads of one process) fail CI.
TSAN_TEST_FILES := (core/thread_pool|nn/(concurrent_model|gradient_sync|dataset)|hpo/study|dist/(communicator|data_parallel|reducer|sync_batch_norm|store))_test
TSAN_TESTS := ^(ThreadPoolTest|ConcurrentInferenceTest|ConcurrentTrainingTest|GradientSyncTest|DatasetTest)\.|^StudyTest\.ParallelTrialsGetUniqueNumbers$$|^(Worlds/)?Communicator(Failure)?Test\.|^DataParallel(Checkpoint)?Test\.|^(Reducer|SyncBatchNorm|TcpStore|FileStore|PrefixStore|StoreProtocol|Rendezvous)Test\.
test-tsan: deps
	cmake -S . -B $(BUILD_TSAN) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMLCORE_WITH_CUDA=OFF \
	  -DMLCORE_BUILD_PYTHON=OFF -DMLCORE_BUILD_TESTS=ON -DMLCORE_BUILD_BENCHMARKS=OFF \
	  -DMLCORE_SANITIZE=thread '-DMLCORE_TEST_FILTER=$(TSAN_TEST_FILES)'
	cmake --build $(BUILD_TSAN) --target mlcore_tests
	cd $(BUILD_TSAN) && TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
	  ctest --output-on-failure --timeout 900 -j $(JOBS) -R '$(TSAN_TESTS)'

# The C++ tests under AddressSanitizer and UndefinedBehaviorSanitizer (no CUDA, no Python). CI
# runs the files where issue 12's crashes and losses were (ASAN_TEST_FILES: core, store, hpo,
# nn's checkpoints, configs and threads); `make test-asan ASAN_TEST_FILES=` runs the whole suite.
ASAN_TEST_FILES ?= ((core|store|hpo)/|nn/(checkpoint|layer_config|concurrent_model|dataset)_test)
test-asan: deps
	cmake -S . -B $(BUILD_ASAN) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMLCORE_WITH_CUDA=OFF \
	  -DMLCORE_BUILD_PYTHON=OFF -DMLCORE_BUILD_TESTS=ON -DMLCORE_BUILD_BENCHMARKS=OFF \
	  '-DMLCORE_SANITIZE=address;undefined' '-DMLCORE_TEST_FILTER=$(ASAN_TEST_FILES)'
	cmake --build $(BUILD_ASAN) --target mlcore_tests
	cd $(BUILD_ASAN) && ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --output-on-failure --timeout 900 -j $(JOBS) -E '^install_consumer$$'

# Every fuzz target (fuzz/*_fuzzer.cc) for FUZZ_SECONDS each, built with clang, ASan and UBSan.
fuzz: deps
	FUZZ_SECONDS=$(FUZZ_SECONDS) bash scripts/fuzz.sh

bench: install
	$(BUILD)/benchmarks/mlcore_ops_bench --benchmark_min_time=0.2
	$(PY) benchmarks/python/bench_interop.py
	$(PY) benchmarks/python/bench_elementwise.py

lint: deps
	bash scripts/lint.sh

gpu-check:
	bash scripts/gpu-check.sh

clean:
	rm -rf build $(VENV) python/mlcore/_mlcore*.so python/mlcore/libmlcore.so* *.egg-info python/*.egg-info
