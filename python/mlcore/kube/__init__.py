"""mlcore.kube: manifests that hand mlcore's work to Kubeflow (see docs/dist.md)."""

from .training_jobs import operator_env, pytorch_job, tf_job, write_manifest  # noqa: F401
from .inference_service import inference_service  # noqa: F401 (KServe: docs/serving_grpc.md)
