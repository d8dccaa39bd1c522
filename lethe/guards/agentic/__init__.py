"""Agentic unlearning (ALU): audit, rewrite, critic and composer agents over a finished draft."""

from lethe.guards.agentic.judge import EngineJudge, Judge, JudgeCall
from lethe.guards.agentic.prompts import AgenticPrompts
from lethe.guards.agentic.stage import AgenticConfig, AgenticStage, Review

__all__ = [
    "AgenticConfig",
    "AgenticPrompts",
    "AgenticStage",
    "EngineJudge",
    "Judge",
    "JudgeCall",
    "Review",
]
