"""The main job: serve a mixed workload under four deployments, grade it, and say whether it pays."""
