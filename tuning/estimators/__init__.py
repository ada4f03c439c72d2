"""What is searched: estimator classes resolved from their names, pipelines and choices
(`models`), the search space's expansion (`space`), the model families that share fits
(`families`) and the GPU checks of a class's parameters (`gpu`). Nothing here imports Ray."""
