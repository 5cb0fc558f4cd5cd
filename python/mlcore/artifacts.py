"""mlcore.artifacts: the Kubeflow Pipelines artifact types, as ``kfp.dsl`` names them.

    from mlcore.artifacts import Dataset, Input, Metrics, Model, Output

    @mlcore.pipelines.component
    def train(data: Input[Dataset], model: Output[Model], metrics: Output[Metrics]): ...

These are files a pipeline task reads or writes (``.path``, ``.uri``, ``.metadata``), recorded
and content-addressed by the pipeline executor. They are not mlcore.nn.Dataset (a stream of
training data) nor mlcore.nn.Model (a trainable network). The top-level names mlcore.Artifact,
mlcore.Dataset, mlcore.Model, mlcore.Metrics, mlcore.Input and mlcore.Output are these same
classes, kept for existing pipelines.
"""

from .pipelines._artifacts import Artifact, Dataset, Input, Metrics, Model, Output

__all__ = ["Artifact", "Dataset", "Input", "Metrics", "Model", "Output"]
