"""Notebook 06: few-shot language generation — in-context model vs pretrain/fine-tune vs scratch."""
