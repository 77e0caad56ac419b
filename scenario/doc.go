// Package scenario runs the acceptance scenarios of docs/SCENARIOS.md against a
// live cluster and judges them from a processing log: the seed scenarios
// blocked-consume (S1, seed 000) and slow-handler (S2, seed 002), each
// printing a timeline and ending with a PASS or FAIL line. The demo binary
// runs them (demo scenario ...), and the integration tests share the
// processing log and its analysis.
package scenario
