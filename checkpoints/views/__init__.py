"""The web pages and htmx fragments, one module per thing a person works on.

`page` renders the project page (and its `#project` region); `responses` is how every
action answers (htmx fragment or POST/redirect/GET, refusals, confirmation steps);
`projects`, `versions`, `previews`, `jobs`, `lifecycle/`, `teams` and `share` hold the
views of what their names say. Imports point down: action views → responses → page →
the page's context builders (`history`, `activity`, `app_panel`).
"""
