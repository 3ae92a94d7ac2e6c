"""Action-conditioned world models: the compact (LeWM) and patch-token (V-JEPA 2-AC) forms, their
training objective, and the `WorldModel` protocol that planners use."""
