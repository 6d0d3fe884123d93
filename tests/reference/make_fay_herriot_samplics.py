"""Reference values of samplics' EblupAreaModel on R sae's ``milk`` data.

Run from the repository root with samplics 0.6.1 installed (``pip install samplics==0.6.1``
in a separate environment; it is not a dependency of perception)::

    python tests/reference/make_fay_herriot_samplics.py

Writes ``tests/reference/fay_herriot_samplics.csv`` (``case,key,value``, 17 digits): for
REML, ML and FH, the model variance, the coefficients and each area's EBLUP and MSE,
fitted on all 43 areas with the model ``direct_est ~ C(major_area)`` (the example of
sae's ``eblupFH`` help page), with ``tol=1e-14``.

samplics 0.6.1's ML fit stops after two Fisher-scoring steps whatever ``tol``: from the
second iteration its variance is a numpy array updated in place (``sigma2_v +=``), and
``sigma2_v_previous`` is the same array, so the change it tests is always 0 and it reports
convergence. Started at its default (``re_std_start=0.001``) it returns 0.0155446 on
``milk`` where the ML estimate is 0.0155175 (the maximum of the profile likelihood). This
script therefore restarts samplics' own ML fit from its previous result until the
variance no longer moves: the fixed point of samplics' own score and information, which
is the converged ML estimator. REML and FH are single fits.
"""

from __future__ import annotations

import csv
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent


def main() -> None:
    # samplics is not a dependency: imported here, so the test run can import this file
    from samplics.sae import EblupAreaModel
    from samplics.utils.types import FitMethod

    milk = pd.read_csv(HERE / "milk.csv")
    X = pd.get_dummies(milk["major_area"], prefix="m", drop_first=True, dtype=float).to_numpy()
    rows = [("meta", "samplics_version", version("samplics"))]
    for method in ("REML", "ML", "FH"):
        start, restarts = 0.001, 0
        while True:
            model = EblupAreaModel(method=FitMethod(method))
            model.fit(yhat=milk["direct_est"].to_numpy(), X=X,
                      area=milk["small_area"].to_numpy(),
                      error_std=milk["std_error"].to_numpy(), re_std_start=start,
                      intercept=True, tol=1e-14, maxiter=1000)
            found = float(np.ravel(model.re_std)[0])
            if method != "ML" or abs(found - start) <= 1e-15 * found or restarts >= 200:
                break
            start, restarts = found, restarts + 1
        model.predict(X=X, area=milk["small_area"].to_numpy(), intercept=True)
        case = f"milk/{method}"
        rows.append((case, "model_variance", float(np.ravel(model.re_std)[0]) ** 2))
        rows.append((case, "restarts", restarts))
        terms = ["Intercept", *(f"C(major_area)[T.{k}]" for k in (2, 3, 4))]
        for term, beta, se in zip(terms, model.fixed_effects, model.fe_std, strict=True):
            rows.append((case, f"beta:{term}", float(beta)))
            rows.append((case, f"beta_se:{term}", float(se)))
        for area in milk["small_area"]:
            rows.append((case, f"{area}:eblup", float(np.ravel(model.area_est[area])[0])))
            rows.append((case, f"{area}:mse", float(np.ravel(model.area_mse[area])[0])))
    with open(HERE / "fay_herriot_samplics.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["case", "key", "value"])
        for case, key, value in rows:
            text = value if isinstance(value, str) else np.format_float_positional(
                value, precision=17, unique=True) if isinstance(value, float) else str(value)
            writer.writerow([case, key, text])
    print(f"wrote {len(rows)} values")


if __name__ == "__main__":
    main()
