"""Omniglot: the official zips, the decoded images, labelled sets, augmentations, Lake's runs."""
