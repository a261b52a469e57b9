"""Version lifecycle: policy and reads. How long versions live (`window`), what a project
holds and what cleanup would remove (`holdings`, `plan`, `listing`), what a version holds
(`manifest`) and what changes between two (`diff`), and the settings that decide what is
left behind (`policy`). Nothing here runs a job: the cleanup runner is `jobs.cleanup`, the
use cases are `services.lifecycle`."""
