"""Function options: every bad value is a ConfigError (a ValueError) naming the option, raised
when the function is declared."""

from __future__ import annotations

import math
from typing import Any

import pytest

from arenaflow import ConfigError, http, schedule, stream
from arenaflow.runtime.config import FunctionConfig, make_config

from .conftest import make_app

BAD_OPTIONS = [
    ("batch_size", 0),
    ("batch_size", 10_001),
    ("batch_size", 2.5),
    ("batch_size", "10"),
    ("batch_size", True),
    ("max_batching_window_ms", -1),
    ("max_batching_window_ms", 300_001),
    ("max_batching_window_ms", math.nan),
    ("max_batching_window_ms", "5ms"),
    ("parallelization", 0),
    ("parallelization", 65),
    ("max_retry_attempts", -1),
    ("max_retry_attempts", None),
    ("retry_backoff_ms", -0.5),
    ("retry_backoff_max_ms", -1),
    ("bisect_on_error", "yes"),
    ("bisect_on_error", 1),
    ("max_record_age_s", 0),
    ("max_record_age_s", -5),
    ("max_record_age_s", math.inf),
    ("on_failure", ""),
    ("on_failure", 3),
    ("timeout_s", 0),
    ("timeout_s", 901),
    ("timeout_s", False),
    ("memory_mb", 64),
    ("memory_mb", 10_241),
    ("memory_mb", 256.0),
    ("min_instances", -1),
    ("max_instances", 0),
    ("idle_timeout_s", -1),
    ("executor", "thread"),
    ("init", "load_model"),
]


@pytest.mark.parametrize(("option", "value"), BAD_OPTIONS)
def test_a_bad_option_fails_at_declaration_naming_it(option: str, value: Any) -> None:
    app = make_app()
    with pytest.raises(ConfigError, match=option) as info:
        app.function(stream("t"), **{option: value})  # before any handler is decorated
    assert isinstance(info.value, ValueError)
    assert repr(value) in str(info.value)
    assert app.functions == {}


def test_the_error_names_the_function_when_it_is_named() -> None:
    with pytest.raises(ConfigError, match=r"'speed'.*batch_size"):
        make_app().function(stream("t"), name="speed", batch_size=0)


@pytest.mark.parametrize(
    ("typo", "meant"),
    [
        ("batch_szie", "batch_size"),
        ("paralellization", "parallelization"),
        ("max_retries_attempts", "max_retry_attempts"),
        ("timeout", "timeout_s"),
        ("min_instance", "min_instances"),
    ],
)
def test_an_unknown_option_suggests_the_close_name(typo: str, meant: str) -> None:
    with pytest.raises(ConfigError, match=f"unknown option '{typo}'; did you mean '{meant}'"):
        make_app().function(stream("t"), **{typo: 1})


def test_an_unknown_option_without_a_close_name_has_no_suggestion() -> None:
    with pytest.raises(ConfigError, match="unknown option 'colour'") as info:
        make_app().function(stream("t"), colour="red")
    assert "did you mean" not in str(info.value)


def test_min_instances_must_not_exceed_max_instances() -> None:
    with pytest.raises(ConfigError, match=r"min_instances \(5\).*max_instances \(4\)"):
        make_config("fn", {"min_instances": 5, "max_instances": 4})
    assert make_config("fn", {"min_instances": 4, "max_instances": 4}).min_instances == 4


def test_good_options_are_kept() -> None:
    def init() -> str:
        return "model"

    cfg = make_config(
        "fn",
        {
            "batch_size": 500,
            "max_batching_window_ms": 2.5,
            "parallelization": 4,
            "max_retry_attempts": 0,
            "bisect_on_error": False,
            "max_record_age_s": 30,
            "on_failure": "alerts.dlq",
            "timeout_s": 0.5,
            "memory_mb": 1024,
            "min_instances": 1,
            "max_instances": 2,
            "idle_timeout_s": 0,
            "init": init,
        },
    )
    assert (cfg.batch_size, cfg.parallelization, cfg.on_failure) == (500, 4, "alerts.dlq")
    assert cfg.init is init
    assert make_config("fn", {}) == FunctionConfig()


def test_retry_delay_doubles_up_to_its_cap() -> None:
    cfg = make_config("fn", {"retry_backoff_ms": 10, "retry_backoff_max_ms": 50})
    assert [cfg.retry_delay_s(a) for a in range(1, 6)] == [0.01, 0.02, 0.04, 0.05, 0.05]


def test_the_config_is_frozen() -> None:
    cfg = make_config("fn", {})
    with pytest.raises(AttributeError):
        cfg.batch_size = 5  # type: ignore[misc]


# -- triggers and registration --------------------------------------------------------------------
@pytest.mark.parametrize("trigger", ["tracking", None, ("tracking",), print])
def test_a_trigger_must_come_from_a_trigger_function(trigger: Any) -> None:
    with pytest.raises(ConfigError, match=r"stream\(\), http\(\), schedule\(\) or webhook\(\)"):
        make_app().function(trigger)


def test_a_topic_is_keyed_by_one_field() -> None:
    app = make_app()

    @app.function(stream("tracking", key="game_id"))
    async def speed(events, ctx):
        pass

    with pytest.raises(ConfigError, match="'tracking' is keyed by 'game_id'"):

        @app.function(stream("tracking", key="match_id"))
        async def distance(events, ctx):
            pass

    @app.function(stream("tracking", key="game_id"))
    async def sprints(events, ctx):
        pass

    assert sorted(app.functions) == ["speed", "sprints"]


def test_function_names_are_unique() -> None:
    app = make_app()

    @app.function(http("/a"))
    async def handler(events, ctx):
        pass

    with pytest.raises(ConfigError, match="already registered"):
        app.function(http("/b"), name="handler")(lambda events, ctx: None)


def test_a_handler_must_be_callable() -> None:
    with pytest.raises(ConfigError, match="callable"):
        make_app().function(http("/a"), name="x")(42)  # type: ignore[type-var]


async def test_functions_cannot_be_added_to_a_running_app() -> None:
    app = make_app()
    async with app:
        with pytest.raises(ConfigError, match="before start"):

            @app.function(schedule("1s"))
            async def late(events, ctx):
                pass

    assert "late" not in app.functions


def test_the_decorator_returns_the_function_unchanged() -> None:
    app = make_app()

    async def handler(events, ctx):
        pass

    assert app.function(stream("t"))(handler) is handler
    assert app.functions["handler"].handler is handler
    assert app.functions["handler"].dead_letter_topic == "handler.dlq"
    app.function(stream("t"), name="other", on_failure="errors")(handler)
    assert app.functions["other"].dead_letter_topic == "errors"
