"""`VideoSDKSettings`: what the VideoSDK source reads from the environment, and the speech
pipeline factory it names (``package.module:callable``, else a pipeline without providers)."""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from videosdk.agents import Pipeline, RoomOptions

log = logging.getLogger(__name__)

DEFAULT_AGENT_NAME = "dtmf-bus"
DEFAULT_AGENT_ID = "dtmf-bus-edge"

TOKEN_ENV = "VIDEOSDK_AUTH_TOKEN"
ROOM_ID_ENV = "VIDEOSDK_ROOM_ID"
AGENT_NAME_ENV = "DTMF_VIDEOSDK_AGENT_NAME"
AGENT_ID_ENV = "DTMF_VIDEOSDK_AGENT_ID"
PIPELINE_ENV = "DTMF_VIDEOSDK_PIPELINE"

PipelineFactory = Callable[[], Any]  # returns a videosdk.agents.Pipeline


def empty_pipeline() -> Any:
    """A pipeline without providers: key presses flow, but the agent cannot speak or listen."""
    log.warning(
        "no speech providers configured (set %s=module:factory): the agent will not speak",
        PIPELINE_ENV,
    )
    return Pipeline()


def load_pipeline_factory(spec: str) -> PipelineFactory:
    """Import ``package.module:callable``, a zero-argument function returning a Pipeline."""
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise ValueError(f"pipeline factory {spec!r} is not of the form package.module:callable")
    factory: object = getattr(importlib.import_module(module_name), attribute, None)
    if not callable(factory):
        raise ValueError(f"pipeline factory {spec!r} is not callable")
    return factory


@dataclass(frozen=True, kw_only=True)
class VideoSDKSettings:
    """What the VideoSDK source needs beyond the edge's own settings."""

    auth_token: str | None = None  # None: the SDK's own lookup (env token, or API key+secret)
    room_id: str | None = None  # None: VIDEOSDK_ROOM_ID, else VideoSDK creates a room
    agent_name: str = DEFAULT_AGENT_NAME
    agent_id: str = DEFAULT_AGENT_ID
    pipeline: str | None = None  # package.module:callable returning a Pipeline
    playground: bool = False  # True prints a playground link that contains the token

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> VideoSDKSettings:
        env = os.environ if env is None else env
        return cls(
            auth_token=env.get(TOKEN_ENV) or None,
            room_id=env.get(ROOM_ID_ENV) or None,
            agent_name=env.get(AGENT_NAME_ENV) or DEFAULT_AGENT_NAME,
            agent_id=env.get(AGENT_ID_ENV) or DEFAULT_AGENT_ID,
            pipeline=env.get(PIPELINE_ENV) or None,
        )

    def room_options(self) -> RoomOptions:
        return RoomOptions(
            room_id=self.room_id,
            auth_token=self.auth_token,
            name=self.agent_name,
            playground=self.playground,
        )

    def pipeline_factory(self) -> PipelineFactory:
        return load_pipeline_factory(self.pipeline) if self.pipeline else empty_pipeline
