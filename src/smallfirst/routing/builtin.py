"""Registers the routers that ship with smallfirst; a plugin calls ``register_router`` the same way."""

from __future__ import annotations

from functools import partial

from smallfirst.routing.ensemble import EnsembleRouter
from smallfirst.routing.factories import register_router
from smallfirst.routing.learned import LearnedRouter
from smallfirst.routing.mf import MatrixFactorisationRouter
from smallfirst.routing.per_dollar import PerDollarRouter
from smallfirst.routing.prior import QualityPriorRouter
from smallfirst.routing.simple import RandomRouter, RulesRouter

register_router("random", RandomRouter)
register_router("rules", RulesRouter)
register_router("learned", LearnedRouter)
register_router("logistic", partial(LearnedRouter, head="logistic"))
register_router("gbm", partial(LearnedRouter, head="gbm"))
register_router("knn", partial(LearnedRouter, head="knn", features=("static",)))
register_router("mf", MatrixFactorisationRouter)
register_router("ensemble", EnsembleRouter)
register_router("per-dollar", PerDollarRouter)
register_router("prior", QualityPriorRouter)
