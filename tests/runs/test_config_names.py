"""Run configs read every list of names from the module that owns it: alpha scalings
(model), losses, objective kinds, integrators and their parameters, schedules, input laws,
backends. Each list is checked here against what the config accepts and rejects."""
import dataclasses

import pytest

import meanfield as mf
from meanfield.dynamics import integrators as dynamics
from meanfield.kernels.gaussian import INPUT_LAWS
from meanfield.core.losses import LOSSES
from meanfield.model.network import ALPHA_NAMES, resolve_alpha
from meanfield.runs.config import IntegratorConfig, integrator_params
from meanfield.runs.objective_kinds import OBJECTIVE_KINDS
from meanfield.dynamics.trajectory import SCHEDULES


@pytest.mark.parametrize("name", list(ALPHA_NAMES))
def test_every_alpha_name_of_the_model_is_a_config_alpha(name):
    config = mf.Config.from_dict({"student": {"m": 16, "alpha": name}})
    assert resolve_alpha(config.student.alpha, 16) == resolve_alpha(name, 16)


def test_unknown_alpha_rejected_naming_the_field():
    with pytest.raises(mf.ConfigError, match="student.alpha"):
        mf.Config.from_dict({"student": {"alpha": "huge"}})


def test_losses_kinds_schedules_and_inputs_come_from_their_owners():
    for loss in LOSSES:
        mf.Config.from_dict({"objective": {"kind": "empirical", "loss": loss}})
    for kind, spec in OBJECTIVE_KINDS.items():
        mf.Config.from_dict({"objective": {"kind": kind}, "d": spec.d or 2})
    for schedule in SCHEDULES:
        mf.Config.from_dict({"record": {"schedule": schedule}})
    for law in INPUT_LAWS:
        mf.Config.from_dict({"objective": {"inputs": law}})
    for field, value in (("objective.loss", "l1"), ("objective.kind", "lattice"),
                         ("record.schedule", "cubic"), ("objective.inputs", "cube")):
        section, key = field.split(".")
        with pytest.raises(mf.ConfigError, match=field):
            mf.Config.from_dict({section: {key: value}})


def test_integrator_config_fields_are_the_registry_parameters():
    fields = {f.name for f in dataclasses.fields(IntegratorConfig)} - {"name"}
    params = {p for name in dynamics.INTEGRATORS for p in dynamics.parameters(name)}
    assert fields == params
    for name in dynamics.INTEGRATORS:
        required = [p for p, (_, req) in dynamics.parameters(name).items() if req]
        values = {p: (4 if kind is int else 0.5)
                  for p, (kind, _) in dynamics.parameters(name).items() if p in required}
        config = mf.Config.from_dict({"integrator": {"name": name, **values}})
        assert dynamics.make(name, **integrator_params(config)).name == name


def test_integrator_parameter_errors_name_the_field():
    with pytest.raises(mf.ConfigError, match="integrator.tau: not a parameter of the euler"):
        mf.Config.from_dict({"integrator": {"name": "euler", "tau": 1.0}})
    with pytest.raises(mf.ConfigError, match="integrator.batch: required by the sgd"):
        mf.Config.from_dict({"integrator": {"name": "sgd"}})
    with pytest.raises(mf.ConfigError, match="integrator.grow"):
        mf.Config.from_dict({"integrator": {"name": "adaptive", "grow": 0.5}})
