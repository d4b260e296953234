// How far from its expected value a measured rate may be in the truth tests.
//
// The issue asks for "within 3 standard deviations": one such check fails by chance in
// 0.27% of runs. The suite makes 12 independent checks of that kind (tests/
// xdp_truth_test.ts: 7, tests/burst_truth_test.ts: 4, tests/delay_truth_test.ts: 1), so
// at 3 sigma each, about 3% of CI runs would fail with nothing wrong. Bonferroni: to keep
// the whole family at 0.27%, each check gets 0.27% / 12, which is 3.7 sigma. A real bias
// still fails every run.

/** Checks of this kind in the suite; update it when adding one. */
export const STATISTICAL_CHECKS = 12;

/** Standard deviations each check allows: the family of checks is held at 3 sigma. */
export const SIGMA_LIMIT = 3.7;
