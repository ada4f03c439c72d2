"""After the trials: summary.json (`summary`), the selection of the best (`selection`), its
model refitted and saved (`best_model`), the API's `Result` (`result`), the text report
(`text`), a run directory read back (`inspection`) and the HTML page (`html`)."""
