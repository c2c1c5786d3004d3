"""SB3 policies with what plasticity methods need, their networks, and the categorical arithmetic of PPO."""
