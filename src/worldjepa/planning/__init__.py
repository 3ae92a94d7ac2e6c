"""Planning by energy minimisation: CEM, MPPI and gradient-descent solvers, MPC, and evaluation."""

from .mpc import run_mpc
from .solvers import CEM, MPPI, GradientDescent, Plan, make_solver

__all__ = ["CEM", "MPPI", "GradientDescent", "Plan", "make_solver", "run_mpc"]
