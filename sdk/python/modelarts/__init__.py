"""ModelArts-compatible SDK (training management) for trainyard.

Import paths follow the ModelArts SDK: ``modelarts.session.Session``,
``modelarts.estimator.Estimator``, ``modelarts.estimator.VisualizationJob``,
``modelarts.environment.Environment`` and
``modelarts.environment.conda_env.CondaDependencies``.
"""

__version__ = "0.1.0"
