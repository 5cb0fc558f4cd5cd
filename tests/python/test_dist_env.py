"""mlcore.dist.read_env: every environment form a job's processes may get, and the bad ones."""

import pytest

import mlcore.dist as dist


def test_single_process_without_variables():
    env = dist.read_env({}, cores=4)
    assert (env.source, env.rank, env.world_size, env.distributed) == ("none", 0, 1, False)
    assert env.num_threads == 4


def test_torchrun_form_and_thread_share():
    env = dist.read_env({"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29500", "RANK": "1",
                         "WORLD_SIZE": "2", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2",
                         "GROUP_RANK": "0"}, cores=6)
    assert (env.source, env.rank, env.world_size, env.local_rank) == ("torchrun", 1, 2, 1)
    assert env.init_method == "tcp://127.0.0.1:29500"
    assert env.num_threads == 3


def test_pytorchjob_pod_tfjob_and_mpijob():
    pod = dist.read_env({"MASTER_ADDR": "job-master-0", "MASTER_PORT": "23456", "RANK": "1",
                         "WORLD_SIZE": "2", "PET_NNODES": "2", "PET_NPROC_PER_NODE": "1",
                         "PET_NODE_RANK": "1"})
    assert (pod.source, pod.rank, pod.world_size) == ("pytorchjob", 1, 2)
    tf = dist.read_env({"TF_CONFIG": '{"cluster": {"worker": ["a:1", "b:1"]}, '
                                     '"task": {"type": "worker", "index": 1}}'})
    assert (tf.source, tf.rank, tf.world_size, tf.init_method) == ("tf_config", 1, 2, "tcp://a:1")
    mpi = dist.read_env({"OMPI_COMM_WORLD_RANK": "3", "OMPI_COMM_WORLD_SIZE": "4",
                         "MASTER_ADDR": "h", "MASTER_PORT": "9"})
    assert (mpi.source, mpi.rank, mpi.world_size) == ("mpi", 3, 4)


@pytest.mark.parametrize("env, message", [
    ({"RANK": "2", "WORLD_SIZE": "2", "MASTER_ADDR": "h", "MASTER_PORT": "1"},
     "RANK=2 must be below WORLD_SIZE=2"),
    ({"RANK": "0", "WORLD_SIZE": "2", "MASTER_ADDR": "h"}, "MASTER_PORT is not set"),
    ({"RANK": "x", "WORLD_SIZE": "2"}, "RANK='x' is not an integer"),
    ({"PET_NNODES": "2", "PET_NODE_RANK": "0", "WORLD_SIZE": "4", "MASTER_ADDR": "h",
      "MASTER_PORT": "1"}, "WORLD_SIZE=4 is neither"),
    ({"PET_NPROC_PER_NODE": "2", "PET_NNODES": "1", "PET_NODE_RANK": "0"}, "mlcore launch"),
    ({"TF_CONFIG": "[1, 2]"}, "TF_CONFIG is not a JSON object"),
])
def test_bad_environments_name_the_variable(env, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        dist.read_env(env)
