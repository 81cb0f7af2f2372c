"""Running isyarat's two expensive jobs (landmark extraction, training sweeps) on a Ray cluster."""
