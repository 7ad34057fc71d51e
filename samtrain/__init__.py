"""samtrain: SAM-family training on Ray Train (no Ray Tune knowledge here), in rooms: `engine`
(the run) > `data` | `diagnostics` | `optim` | `models` > `config` > `errors` (the one error root)."""
