"""The checks of the notebooks' "Your turn" exercises."""
