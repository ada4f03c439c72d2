"""Before any trial runs: the plan (trials, order, resources) on the cluster it fits, the
search's algorithm and scheduler (`search`), the run's time estimate (`estimate`) and
``--dry-run`` (`dry_run`)."""
