import subprocess
import sys

import mlcore


def test_build_info_describes_the_build():
    info = mlcore.build_info()
    assert info["version"] == mlcore.__version__
    for key in ["compiler", "cuda_enabled", "cuda_device_count", "cuda_unavailable_reason",
                "cublas_version", "cudnn_version", "nccl_version", "num_threads"]:
        assert key in info
    assert info["cuda_device_count"] == mlcore.cuda.device_count()
    if info["cuda_enabled"]:
        assert info["cuda_runtime_version"] and info["cublas_version"]
    if mlcore.cuda.device_count() == 0:
        assert info["cuda_unavailable_reason"]
        assert not mlcore.cuda.is_available()


def test_cuda_queries_never_crash_without_a_device():
    if mlcore.cuda.is_available():
        name = mlcore.cuda.device_name(0)
        free, total = mlcore.cuda.memory_info(0)
        assert name and 0 < free <= total
    else:
        import pytest

        with pytest.raises(ValueError):
            mlcore.cuda.device_properties(0)
        mlcore.cuda.empty_cache()  # harmless without CUDA


def test_log_level_from_environment_and_at_run_time():
    code = "import mlcore; print(mlcore.get_log_level())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={"MLCORE_LOG_LEVEL": "debug", "PATH": ""}, check=True)
    assert out.stdout.strip() == "debug"
    saved = mlcore.get_log_level()
    try:
        mlcore.set_log_level("error")
        assert mlcore.get_log_level() == "error"
    finally:
        mlcore.set_log_level(saved)
    import pytest

    with pytest.raises(ValueError, match="loud"):
        mlcore.set_log_level("loud")


def test_allocator_stats_follow_live_tensors():
    before = mlcore.allocator_stats("cpu")["allocated_bytes"]
    t = mlcore.empty([1 << 20], dtype="uint8")
    assert mlcore.allocator_stats("cpu")["allocated_bytes"] >= before + (1 << 20)
    del t
    assert mlcore.allocator_stats("cpu")["allocated_bytes"] == before
