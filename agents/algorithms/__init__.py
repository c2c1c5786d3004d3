"""The algorithms: SB3's PPO and DQN with device-resident buffers and a tensor rollout (``ppo``, ``dqn``,
``buffers``), the vector-env adapter they step (``vec_env``), and how they are built from a config (``factory``).
"""
