"""Networks: the conv trunk, frozen-encoder features, and the black-box families."""
