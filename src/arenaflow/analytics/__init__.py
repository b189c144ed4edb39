"""Live sports analytics as pure numpy functions: SI units, causal, each formula cited.

One concept per module: ``filters`` (causal smoothing), ``kinematics`` (speed, acceleration,
distance), ``bands`` and ``efforts`` (speed bands, sprints, accelerations), ``metabolic``
(metabolic power), ``heart_rate`` (zones, TRIMP), ``heatmap``, ``team_shape``, ``pressure``,
``pitch_control``, ``basketball`` and ``xg`` (shot and goal probability). Import from the
modules; this package imports nothing so that loading one metric never pays for the others.
"""
