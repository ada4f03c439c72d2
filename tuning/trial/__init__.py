"""One trial: the data and its split (`data`), the validation folds (`validation`), the fit
and its scores (`fit`), fits shared along a size parameter (`shared_fits`), and what a trial
hands back (`records`)."""
